"""The combined ranking (mean rank over rankers), its confidence, and how a ranking is judged
against measured transfer results."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr

from asrtl.errors import UserError


def ranks(scores: Mapping[str, float]) -> dict[str, float]:
    """Rank 1 = highest score; ties share their mean rank."""
    names = list(scores)
    r = rankdata([-scores[n] for n in names], method="average")
    return {n: float(x) for n, x in zip(names, r, strict=True)}


def combine(scores: Mapping[str, Mapping[str, float]], rankers: list[str],
            weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Minus the (weighted) mean rank of each source over ``rankers`` (higher = better): a
    pure function of the per-ranker scores. ``weights`` (per ranker, default equal) are
    normalised to sum to 1.

    Raises:
        ValueError: no ranker to combine, or one missing from ``scores``.
    """
    missing = [r for r in rankers if r not in scores]
    if not rankers or missing:
        raise UserError(f"combine needs the scores of its rankers; missing: {missing or 'all'}")
    w = np.array([1.0 if weights is None else float(weights[r]) for r in rankers])
    per = [ranks(scores[r]) for r in rankers]
    sources = list(scores[rankers[0]])
    return {s: -round(float(np.dot(w, [p[s] for p in per]) / w.sum()), 6) for s in sources}


def half_weights(rankers: list[str], groups: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    """Weights that give each group of ``rankers`` (each half of :data:`HALVES`) the same
    share, split equally among its members present: the mean over groups of each group's
    mean rank. A ranker in no group counts as a group of its own.
    """
    member = {r: g for g, rs in groups.items() for r in rs}
    sizes: dict[str, int] = {}
    for r in rankers:
        sizes[member.get(r, r)] = sizes.get(member.get(r, r), 0) + 1
    return {r: 1.0 / (len(sizes) * sizes[member.get(r, r)]) for r in rankers}


def ordered(scores: Mapping[str, float]) -> list[dict]:
    """``[{"source", "score"}]`` best first (ties by name)."""
    return [{"source": s, "score": v}
            for s, v in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def confidence(scores: Mapping[str, Mapping[str, float]], rankers: list[str],
               combined: Mapping[str, float]) -> dict:
    """How far the combined rankers agree: the share whose own top source is the combined
    top, and Kendall's W (coefficient of concordance, 0 = none, 1 = identical rankings)."""
    top = ordered(combined)[0]["source"]
    tops = [ordered(scores[r])[0]["source"] for r in rankers]
    sources = list(combined)
    m, n = len(rankers), len(sources)
    w = float("nan")
    if m >= 2 and n >= 2:
        rank_sums = np.array([sum(ranks(scores[r])[s] for r in rankers) for s in sources])
        w = float(12 * ((rank_sums - rank_sums.mean()) ** 2).sum() / (m ** 2 * (n ** 3 - n)))
    return {"top": top, "top_agreement": round(sum(t == top for t in tops) / len(tops), 4),
            "kendall_w": None if math.isnan(w) else round(w, 4), "rankers": rankers}


def halves(scores: Mapping[str, Mapping[str, float]],
           groups: Mapping[str, tuple[str, ...]]) -> dict:
    """Each group of rankers (the acoustic and the output-mapping half) combined on its own:
    ``{group: {"rankers", "top", "tops", "ranking"}}`` for the groups with scores (``tops``:
    every source tied at the best combined score), and ``agree``: whether one source is
    among the tops of every group (None with fewer than two groups)."""
    out: dict = {}
    for name, members in groups.items():
        have = [r for r in members if r in scores]
        if have:
            ranking = ordered(combine(scores, have))
            tops = [r["source"] for r in ranking if r["score"] == ranking[0]["score"]]
            out[name] = {"rankers": have, "top": ranking[0]["source"], "tops": tops,
                         "ranking": ranking}
    common = set.intersection(*(set(v["tops"]) for v in out.values())) if out else set()
    return {**out, "agree": None if len(out) < 2 else bool(common)}


def judge(scores: Mapping[str, float], wer: Mapping[str, list[float]], k: int = 3) -> dict:
    """A ranking's agreement with measured transfer WER (several seeds per source).

    Args:
        scores: a ranker's score per source (higher = predicted better).
        wer: each source's test WER per seed, for the target.

    Returns:
        ``spearman`` and ``kendall`` (between the score and minus the mean WER: positive =
        the ranking agrees with WER), ``top1`` (1 when the top-scored source is the best by
        mean WER or within the seed spread of it: its seed range overlaps the best's),
        ``ndcg@k`` (gain per source: 1 for the best, 0 for the worst, linear in mean WER),
        ``regret`` (mean WER of the pick minus the best's, in WER points).
    """
    sources = sorted(scores)
    mean = {s: float(np.mean(wer[s])) for s in sources}
    x, y = [scores[s] for s in sources], [-mean[s] for s in sources]
    rho = spearmanr(x, y).statistic
    tau = kendalltau(x, y).statistic
    pick = ordered(scores)[0]["source"]
    best = min(sources, key=lambda s: (mean[s], s))
    top1 = pick == best or min(wer[pick]) <= max(wer[best])
    lo, hi = min(mean.values()), max(mean.values())
    gain = {s: (hi - mean[s]) / (hi - lo) if hi > lo else 1.0 for s in sources}
    order = [r["source"] for r in ordered(scores)]
    ideal = sorted(sources, key=lambda s: -gain[s])

    def dcg(seq: list[str]) -> float:
        return sum(gain[s] / math.log2(i + 2) for i, s in enumerate(seq[:k]))

    return {"spearman": None if math.isnan(rho) else round(float(rho), 4),
            "kendall": None if math.isnan(tau) else round(float(tau), 4),
            "top1": bool(top1), "pick": pick, "best": best,
            f"ndcg@{k}": round(dcg(order) / dcg(ideal), 4) if dcg(ideal) > 0 else None,
            "regret": round(100 * (mean[pick] - mean[best]), 2)}
