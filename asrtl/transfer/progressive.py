"""``strategy=progressive``: the sources as frozen columns of the target model
(:mod:`asrtl.models.progressive`), checked to read the same input, copied in."""

from __future__ import annotations

import torch

from asrtl.errors import UserError
from asrtl.models.ctc import CTCModel
from asrtl.train.checkpoint import Checkpoint
from asrtl.transfer.copy import CopyReport


def check_columns(sources: list[Checkpoint]) -> None:
    """The columns read the same input: the same fbank settings (and so the same sample
    rate) and the same number of mel bins.

    Raises:
        UserError: an empty list, or two sources that read different features, naming both.
    """
    if not sources:
        raise UserError("strategy=progressive needs sources=[a,b,...] (or source=<language>)")
    first = sources[0]
    for other in sources[1:]:
        a, b = first.meta.features, other.meta.features  # None: an older record, the default
        if (a is not None and b is not None and a != b
                or first.model.cfg.num_mel_bins != other.model.cfg.num_mel_bins):
            raise UserError(f"progressive sources read different features: {first.path} "
                            f"({a or 'default'}) and {other.path} ({b or 'default'})")


def load_columns(model: CTCModel, sources: list[Checkpoint], report: CopyReport) -> None:
    """Column ``k`` of ``model`` takes source ``k``'s frontend and encoder (frozen); the
    report says so."""
    if len(sources) != len(model.columns):
        raise ValueError(f"{len(sources)} sources for {len(model.columns)} columns")
    with torch.no_grad():
        for column, source in zip(model.columns, sources, strict=True):
            column.frontend.load_state_dict(source.model.frontend.state_dict())
            column.encoder.load_state_dict(source.model.encoder.state_dict())
    report.reinitialised = [n for n in report.reinitialised if not n.startswith("columns.")]
    report.copied += [f"columns.{k} (frontend, encoder of {s.path}; frozen)"
                      for k, s in enumerate(sources)]
