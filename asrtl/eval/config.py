"""Typed evaluation settings: the scoring after training (the ``decode:`` mapping of
``conf/{pretrain,transfer,multilingual,rank}.yaml``) and the search of ``recipes/decode.py``
and ``recipes/transcribe.py`` (their string ``decode: greedy|beam``).

:func:`checked_fields` is the key-and-type check every ``from_dict`` of a settings dataclass
shares (:class:`DecodeConfig`, :class:`asrtl.transfer.strategies.StrategyConfig`): one-line
``ValueError`` messages naming ``<section>.<key>``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asrtl.data.store import SPLITS

SEARCHES = ("greedy", "beam")
SCORED_SPLITS = (*SPLITS, "all")  # what Corpus.cuts reads; ``all``: every utterance


def check_search(decode: Any) -> str:
    """``decode=`` of ``recipes/decode.py`` and ``recipes/transcribe.py``: the search.

    Raises:
        ValueError: anything but ``greedy`` or ``beam``.
    """
    if not isinstance(decode, str) or decode not in SEARCHES:
        raise ValueError(f"decode must be {' or '.join(SEARCHES)}, got {decode!r}")
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
            raise ValueError(f"{section} here is a mapping (splits, beam, beam_size), got "
                             f"{d!r}: for beam search too set {section}.beam=true")
        if isinstance(d, Mapping) and isinstance(d.get("splits"), str):
            d = {**d, "splits": [d["splits"]]}  # decode.splits=test: one split
        cfg = cls(**checked_fields(cls, d, section))
        unknown = [s for s in cfg.splits if s not in SCORED_SPLITS]
        if unknown:
            raise ValueError(f"{section}.splits: unknown split(s) {unknown}; known: "
                             f"{', '.join(SCORED_SPLITS)}")
        if len(set(cfg.splits)) != len(cfg.splits):
            raise ValueError(f"{section}.splits names a split twice: {list(cfg.splits)}")
        if cfg.beam_size < 1:
            raise ValueError(f"{section}.beam_size must be >= 1, got {cfg.beam_size}")
        return cfg


def checked_fields(cls: type, d: Any, section: str) -> dict[str, Any]:
    """Keyword arguments for the settings dataclass ``cls`` from the mapping ``d`` (a dict or
    an OmegaConf node), each value checked against its field's type hint: ``bool``, ``int``,
    ``float`` (an int is taken), ``str``, ``tuple[X, ...]`` (from a list), ``X | None``, a
    union, or a nested settings dataclass (built by its ``from_dict(value, section)``).

    Raises:
        ValueError: ``d`` not a mapping, an unknown key or a value of the wrong type, as one
            line naming ``<section>.<key>``.
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"{section} must be a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(str(k) for k in d if k not in known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                         f"known: {', '.join(known)}")
    return {str(k): _checked(f"{section}.{k}", v, hints[str(k)]) for k, v in d.items()}


def _checked(key: str, value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # X | None: X's own message
            return _checked(key, value, options[0])
        for option in options:
            try:
                return _checked(key, value, option)
            except ValueError:
                pass
        raise ValueError(f"{key}: expected {_describe(hint)}, got {value!r}")
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise ValueError(f"{key}: expected {_describe(hint)}, got {value!r}")
        return tuple(_checked(f"{key}[{i}]", v, args[0]) for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return hint.from_dict(value, key)
    ok = (isinstance(value, bool) if hint is bool else
          isinstance(value, int) and not isinstance(value, bool) if hint is int else
          isinstance(value, (int, float)) and not isinstance(value, bool) if hint is float
          else isinstance(value, hint))
    if not ok:
        raise ValueError(f"{key}: expected {_describe(hint)}, got {value!r}")
    return float(value) if hint is float else value


def _describe(hint: Any) -> str:
    """A type hint in words: ``a list of str``, ``float or null``..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        return f"a list of {_describe(args[0])}"
    if dataclasses.is_dataclass(hint):
        return f"a mapping ({', '.join(f.name for f in dataclasses.fields(hint))})"
    return getattr(hint, "__name__", str(hint))
