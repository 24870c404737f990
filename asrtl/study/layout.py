"""Where a study keeps each job's results, relative to ``exp/study/<name>/``, and how it reads
the LID pick from them.

One convention shared by ``recipes/study.py`` (which runs the jobs there) and
``recipes/report.py`` (which reads only these files). A study's directory is the ``exp_dir``
of its jobs, so every run dir is :class:`asrtl.layout.RunLayout`'s; only the budgets and
strategies are the study's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asrtl.errors import UserError
from asrtl.layout import RunLayout, result_file

RELATIVE = RunLayout(Path())  # run dirs relative to the study


def rank_by_score(scores: Mapping[str, float]) -> list[str]:
    """Candidate sources best first: highest score first, ties broken by source name
    (alphabetically), as :func:`asrtl.lid.score.rank_sources` orders them.

    >>> rank_by_score({"thai": 0.3, "bengali": 0.3, "turkish": 0.1})
    ['bengali', 'thai', 'turkish']
    """
    return sorted(scores, key=lambda s: (-scores[s], s))


def best_source(scores: Mapping[str, float]) -> str:
    """The best source by score (higher is better); on a tie, the first by name.

    The one tie rule of the study's LID pick (``recipes/study.py``) and of the report's
    ``lid_best`` (:func:`asrtl.study.report.collect`).

    Raises:
        ValueError: no candidate.
    """
    if not scores:
        raise UserError("no candidate sources to pick the best of")
    return rank_by_score(scores)[0]


def lid_scores(target: str, rankings: Mapping[str, Any] | None,
               matrix: Mapping[str, Any] | None) -> tuple[dict[str, float], str]:
    """The LID score of each candidate source for ``target`` and where it comes from.

    Args:
        rankings: ``recipes/lid.py``'s ``rankings.json`` (leave-one-out; 3+ languages), or
            None/empty.
        matrix: its ``lid_matrix.json``, or None: the row of ``target`` (the classifier over
            every language), the target's own column left out.

    Returns:
        ``({source: score}, mode)``, mode ``leave-one-out`` or ``matrix``; no scores
        (``{}``, ``leave-one-out``) when neither file covers ``target``.
    """
    ranked = ((rankings or {}).get(target) or {}).get("ranking") or []
    if ranked:
        return {r["source"]: r["score"] for r in ranked}, "leave-one-out"
    if matrix and target in matrix["frame_mean"]:
        return ({s: v for s, v in matrix["frame_mean"][target].items() if s != target},
                "matrix")
    return {}, "leave-one-out"


@dataclass(frozen=True)
class StudyLayout:
    """Relative paths of one study's result files.

    Attributes:
        small_hours, large_hours: the target (small) and source (large) budgets.
        strategy: the transfer strategy of the matrix runs.
        adaptation: the strategy of the "+ adaptation" row.
        lid: the LID run directory, relative to the study.
    """

    small_hours: float
    large_hours: float
    strategy: str = "finetune"
    adaptation: str = "discriminative"
    lid: str = "lid"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyLayout:
        return cls(**{k: d[k] for k in ("small_hours", "large_hours", "strategy", "adaptation",
                                        "lid") if k in d})

    def pretrain_dir(self, language: str, hours: float) -> str:
        return RELATIVE.pretrain(language, hours).as_posix()

    def large_scratch(self, target: str) -> str:
        """The large-budget baseline: the source pretraining run of the target itself."""
        return result_file(self.pretrain_dir(target, self.large_hours), "pretrain").as_posix()

    def transfer_dir(self, source: str, target: str, strategy: str | None = None,
                     source_hours: float | None = None) -> str:
        return RELATIVE.transfer(source, target, strategy or self.strategy,
                                 source_hours).as_posix()

    def scratch_small(self, target: str) -> str:
        return self._summary(self.transfer_dir("none", target))

    def transfer(self, source: str, target: str) -> str:
        """Large source -> small target, with the matrix strategy (diagonal included)."""
        return self._summary(self.transfer_dir(source, target))

    def small_source(self, source: str, target: str) -> str:
        return self._summary(self.transfer_dir(source, target, source_hours=self.small_hours))

    def adapted(self, source: str, target: str) -> str:
        return self._summary(self.transfer_dir(source, target, self.adaptation))

    def lid_file(self, name: str) -> str:
        """A file of the LID run: ``lid_matrix.json``, ``rankings.json``, ``accuracy.json``,
        ``loo/<language>``..."""
        return f"{self.lid}/{name}"

    def lid_matrix(self) -> str:
        """The LID run's result (and finished) file."""
        return result_file(self.lid, "lid").as_posix()

    def rank_dir(self, target: str) -> str:
        return RELATIVE.rank(target).as_posix()

    def ranking(self, target: str) -> str:
        """``recipes/rank.py``'s result for ``target`` (3 or more languages)."""
        return result_file(self.rank_dir(target), "rank").as_posix()

    @staticmethod
    def _summary(run: str) -> str:
        return result_file(run, "transfer").as_posix()
