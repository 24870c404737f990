"""What a LID run reports: the held-out accuracy (``accuracy.json``), a target's ranking of
sources (``ranking.json``) and the LID matrix (``lid_matrix.{json,csv}``)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from lhotse import CutSet

from asrtl.errors import UserError
from asrtl.io import write_json_atomic, write_text_atomic
from asrtl.lid.score import Posteriors, accuracy, bootstrap_top, rank_sources


def accuracy_summary(rows: dict[str, Posteriors], split: str) -> dict[str, Any]:
    """``accuracy.json``: each language's utterance accuracy on its own held-out audio
    (4 decimals) and their mean weighted by utterances.

    Args:
        rows: language -> posteriors of its ``split`` utterances (every language a class).
        split: the split scored, recorded as ``split``.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise UserError("no held-out posteriors to score")
    per_language = {lang: round(accuracy(p, lang), 4) for lang, p in rows.items()}
    pooled = sum(per_language[lang] * len(p.ids) for lang, p in rows.items()) / sum(
        len(p.ids) for p in rows.values())
    return {"split": split, "utterance_accuracy": round(pooled, 4),
            "per_language": per_language,
            "utterances": {lang: len(p.ids) for lang, p in rows.items()}}


def target_ranking(post: Posteriors, target: str, bootstrap: int = 1000,
                   seed: int = 0) -> dict[str, Any]:
    """``ranking.json`` of one target: the candidate sources best first (the target's own
    class, if the classifier has one, left out), and how often each ranks first over
    ``bootstrap`` resamples of the target's utterances."""
    ranked = rank_sources(post, exclude=[target])
    return {"target": target, "ranking": ranked, "best": ranked[0]["source"],
            "top_share_bootstrap": bootstrap_top(post, [target], bootstrap, seed),
            "utterances": len(post.ids), "frames": int(post.frames.sum()),
            "classes": post.languages}


def sampling_rates(cuts: CutSet) -> dict[str, int]:
    """Utterances per sampling rate of their recordings (``{"8000": 12}``), sorted by rate
    as text."""
    return dict(sorted(Counter(str(c.recording.sampling_rate) for c in cuts).items()))


def lid_matrix(rows: dict[str, Posteriors], languages: list[str]) -> dict[str, Any]:
    """The LID matrix: for each input (row), the posterior of each class (column), averaged
    over its frames (``frame_mean``) and over its utterances (``utterance_mean``), 4
    decimals.

    Raises:
        ValueError: a row with more or fewer classes than ``languages``.
    """
    def table(mean: str) -> dict[str, dict[str, float]]:
        return {lang: dict(zip(languages, (round(float(x), 4) for x in getattr(p, mean)()),
                               strict=True)) for lang, p in rows.items()}

    return {"columns": languages, "rows": list(rows), "frame_mean": table("frame_mean"),
            "utterance_mean": table("utterance_mean")}


def matrix_csv(matrix: dict[str, Any]) -> str:
    """``lid_matrix.csv``: the frame-averaged matrix, a header ``input,<class>...``."""
    columns, table = matrix["columns"], matrix["frame_mean"]
    lines = ["input," + ",".join(columns)]
    lines += [f"{r}," + ",".join(f"{table[r][c]:.4f}" for c in columns) for r in table]
    return "\n".join(lines) + "\n"


def write_matrix(run_dir: Path, rows: dict[str, Posteriors],
                 languages: list[str]) -> dict[str, Any]:
    """Writes ``lid_matrix.json`` and ``lid_matrix.csv`` (see :func:`lid_matrix`) into
    ``run_dir``; returns the matrix."""
    matrix = lid_matrix(rows, languages)
    write_json_atomic(run_dir / "lid_matrix.json", matrix)
    write_text_atomic(run_dir / "lid_matrix.csv", matrix_csv(matrix))
    return matrix
