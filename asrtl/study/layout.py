"""Where a study keeps each job's results, relative to ``exp/study/<name>/``.

One convention shared by ``recipes/study.py`` (which runs the jobs there) and
``recipes/report.py`` (which reads only these files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
        return f"pretrain/{language}-{hours:g}h"

    def large_scratch(self, target: str) -> str:
        """The large-budget baseline: the source pretraining run of the target itself."""
        return f"{self.pretrain_dir(target, self.large_hours)}/results/test/scores.json"

    def transfer_dir(self, source: str, target: str, strategy: str | None = None,
                     source_hours: float | None = None) -> str:
        src = source if source_hours is None else f"{source}-{source_hours:g}h"
        return f"transfer/{src}-to-{target}/{strategy or self.strategy}"

    def scratch_small(self, target: str) -> str:
        return f"{self.transfer_dir('none', target)}/summary.json"

    def transfer(self, source: str, target: str) -> str:
        """Large source -> small target, with the matrix strategy (diagonal included)."""
        return f"{self.transfer_dir(source, target)}/summary.json"

    def small_source(self, source: str, target: str) -> str:
        return f"{self.transfer_dir(source, target, source_hours=self.small_hours)}/summary.json"

    def adapted(self, source: str, target: str) -> str:
        return f"{self.transfer_dir(source, target, self.adaptation)}/summary.json"
