"""Typed evaluation settings: the scoring after training (the ``decode:`` mapping of
``conf/{pretrain,transfer,multilingual,rank}.yaml``) and the search of ``recipes/decode.py``
and ``recipes/transcribe.py`` (their string ``decode: greedy|beam``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asrtl.data.store import SPLITS
from asrtl.errors import UserError
from asrtl.settings import checked_fields

SEARCHES = ("greedy", "beam")
SCORED_SPLITS = (*SPLITS, "all")  # what Corpus.cuts reads; ``all``: every utterance


def check_search(decode: Any) -> str:
    """``decode=`` of ``recipes/decode.py`` and ``recipes/transcribe.py``: the search.

    Raises:
        ValueError: anything but ``greedy`` or ``beam``.
    """
    if not isinstance(decode, str) or decode not in SEARCHES:
        raise UserError(f"decode must be {' or '.join(SEARCHES)}, got {decode!r}")
    return decode


@dataclass(frozen=True)
class DecodeConfig:
    """How a run scores its best checkpoint after training (``decode:`` in the YAML, whose
    values these defaults equal; ``conf/rank.yaml`` turns the beam search off).

    Attributes:
        splits: the corpus splits decoded (``train``, ``dev``, ``test``, ``adapt``, ``all``),
            each into ``results/<split>/`` (greedy).
        beam: also the lexicon-constrained beam search (the training words), into
            ``results/<split>-beam/``.
        beam_size: the beam search's beam.
    """

    splits: tuple[str, ...] = ("test",)
    beam: bool = True
    beam_size: int = 32

    @classmethod
    def from_dict(cls, d: Any, section: str = "decode") -> DecodeConfig:
        """Builds from a ``decode:`` mapping (a :class:`DecodeConfig` is returned as is).

        Raises:
            ValueError: not a mapping, an unknown key, a bad type or value, naming
                ``decode.<key>``.
        """
        if isinstance(d, cls):
            return d
        if isinstance(d, str):  # decode=beam given to a training recipe
            raise UserError(f"{section} here is a mapping (splits, beam, beam_size), got "
                            f"{d!r}: for beam search too set {section}.beam=true")
        if isinstance(d, Mapping) and isinstance(d.get("splits"), str):
            d = {**d, "splits": [d["splits"]]}  # decode.splits=test: one split
        cfg = cls(**checked_fields(cls, d, section))
        unknown = [s for s in cfg.splits if s not in SCORED_SPLITS]
        if unknown:
            raise UserError(f"{section}.splits: unknown split(s) {unknown}; known: "
                            f"{', '.join(SCORED_SPLITS)}")
        if len(set(cfg.splits)) != len(cfg.splits):
            raise UserError(f"{section}.splits names a split twice: {list(cfg.splits)}")
        if cfg.beam_size < 1:
            raise UserError(f"{section}.beam_size must be >= 1, got {cfg.beam_size}")
        return cfg
