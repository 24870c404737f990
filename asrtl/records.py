"""Typed run records: what a recipe writes for other recipes, the library and users to read
(``summary.json`` of a transfer or multilingual run, ``ranking.json`` of a ranking), one
dataclass each, written and read in one place, with a schema version.

A record's JSON is its fields plus ``record_version``. A file without ``record_version`` was
written before the field existed, by the layout of version 1, and loads as version 1; a newer
version is refused, naming it. Keys this version does not name are kept in ``extra``.
(The checkpoint's ``meta.json`` is :class:`asrtl.train.checkpoint.CheckpointMeta`.)
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from asrtl.errors import UserError
from asrtl.io import read_json, write_json_atomic

R = TypeVar("R", bound="Record")


class RecordVersionMismatch(UserError):
    """A record written by a newer asrtl, in a schema this one does not know."""


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value has the shape of type hint ``hint`` (containers one level deep:
    ``list[str]`` checks the items, ``dict[str, float]`` the values)."""
    if hint is Any:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(v, args[1]) for v in value.values())
    return isinstance(value, origin or hint)


@dataclass
class Record:
    """The base of a run record: ``from_dict``/``to_dict``, ``load``/``save``."""

    WHAT: ClassVar[str] = "record"  # how errors name it
    VERSION: ClassVar[int] = 1

    @classmethod
    def from_dict(cls: type[R], d: Any, where: Path | str) -> R:
        """The record of mapping ``d`` (read from ``where``).

        Raises:
            RecordVersionMismatch: a ``record_version`` newer than :attr:`VERSION`.
            UserError: not a mapping, a field missing or of the wrong type, naming the file.
        """
        if not isinstance(d, dict):
            raise UserError(f"corrupt {cls.WHAT} {where}: not a JSON object")
        version = d.get("record_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise UserError(f"corrupt {cls.WHAT} {where}: record_version {version!r}")
        if version > cls.VERSION:
            raise RecordVersionMismatch(
                f"{where}: {cls.WHAT} version {version}, this asrtl reads version "
                f"{cls.VERSION} or older (written by a newer asrtl)")
        known = [f for f in fields(cls) if f.name != "extra"]
        for f in known:
            if f.name not in d and f.default is MISSING and f.default_factory is MISSING:
                raise UserError(f"corrupt {cls.WHAT} {where}: no {f.name}")
        cls._check({k: v for k, v in d.items()}, where)
        names = {f.name for f in known} | {"record_version"}
        return cls(**{k: v for k, v in d.items() if k in names - {"record_version"}},
                   extra={k: v for k, v in d.items() if k not in names})

    @classmethod
    def _check(cls, d: dict[str, Any], where: Path | str,
               error: type[Exception] = UserError) -> None:
        """Every field of ``d`` this record names has its declared type, else ``error``."""
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name in d and f.name != "extra" and not _matches(d[f.name], hints[f.name]):
                raise error(f"corrupt {cls.WHAT} {where}: {f.name}={d[f.name]!r} is not "
                                f"{_name(hints[f.name])}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON mapping: the fields, ``extra`` merged, and ``record_version``."""
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        return {**out, **self.extra, "record_version": self.VERSION}

    @classmethod
    def load(cls: type[R], path: Path | str) -> R:
        """The record in file ``path``.

        Raises:
            MissingInput: no file; UserError: corrupt or of a newer version.
        """
        return cls.from_dict(read_json(Path(path), cls.WHAT), path)

    def save(self, path: Path | str) -> None:
        """Writes the record to ``path`` atomically, once its fields have their types (so
        what is written reads back).

        Raises:
            TypeError: a field of the wrong type (a bug of the writer), naming it.
        """
        self._check(asdict(self), path, TypeError)
        write_json_atomic(Path(path), self.to_dict())


def _name(hint: Any) -> str:
    return str(hint).replace("typing.", "") if typing.get_origin(hint) else hint.__name__


@dataclass
class TransferSummary(Record):
    """``exp/transfer/<source>-to-<target>/<strategy>/summary.json`` (``recipes/transfer.py``):
    the test split's greedy scores of one transfer (``source="none"``: from scratch). With
    ``units="phones"``, ``wer`` counts phonemic words and ``cer`` is the phone error rate."""

    WHAT: ClassVar[str] = "transfer summary"

    source: str
    target: str
    strategy: str
    wer: float
    cer: float
    wer_percent: float
    cer_percent: float
    source_checkpoint: str | None = None
    source_hours: float | None = None
    target_hours: float | None = None
    beam: dict[str, Any] | None = None  # the beam decoder's test scores, when it ran
    epochs: int | None = None
    steps: int | None = None
    wall_s: float | None = None  # training wall time
    device: str | None = None
    seed: int | None = None
    copy: str | None = None  # which layers were copied, frozen, reinitialised (one line)
    units: str = "chars"  # chars | phones
    layer_weights: list[float] | None = None  # strategy=features, layers=all: frontend first
    # against the scratch baseline of the same target, budget and seed, when it was run:
    # {"run", "wer", "cer", "wer_points", "cer_points", "worse"} (points: this minus scratch)
    vs_scratch: dict[str, Any] | None = None
    # strategy=progressive: per source, how much the target leaned on its column per layer
    laterals: dict[str, list[float]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def against(self, scratch: TransferSummary, run: str) -> dict[str, Any] | None:
        """This transfer against ``scratch`` (at ``run``): None unless it is a scratch run of
        the same target, budget, seed, units and epochs."""
        if (scratch.source != "none" or self.source == "none" or scratch.target != self.target
                or scratch.target_hours != self.target_hours or scratch.seed != self.seed
                or scratch.units != self.units or scratch.epochs != self.epochs):
            return None
        return {"run": run, "wer": scratch.wer, "cer": scratch.cer,
                "wer_points": round(self.wer_percent - scratch.wer_percent, 2),
                "cer_points": round(self.cer_percent - scratch.cer_percent, 2),
                "worse": self.wer >= scratch.wer}


@dataclass
class MultilingualSummary(Record):
    """``exp/multilingual/<name>/summary.json`` (``recipes/multilingual.py``)."""

    WHAT: ClassVar[str] = "multilingual summary"

    languages: list[str]
    temperature: float
    sampling: dict[str, float]  # each language's share of the batches
    checkpoint: str
    scores: dict[str, dict[str, Any]]  # language -> split -> scores
    steps: int | None = None
    wall_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ranking(Record):
    """``exp/rank/<target>/ranking.json`` (``recipes/rank.py``): every ranker's score of
    every source (higher = better) and the combined ranking, best first."""

    WHAT: ClassVar[str] = "ranking"

    target: str
    sources: list[str]
    rankers: dict[str, dict[str, float]]  # ranker -> source -> score; "combined" included
    ranking: list[dict[str, Any]]  # [{"source", "score"}], the combined ranking best first
    confidence: dict[str, Any] = field(default_factory=dict)
    halves: dict[str, Any] = field(default_factory=dict)
    zero_shot_cer: dict[str, float] | None = None
    target_utterances: int | None = None
    units: str = "chars"  # the source models' and the target's: chars | phones
    wall_s: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [r for r in self.ranking if not isinstance(r, dict) or "source" not in r]
        if bad:
            raise UserError(f"corrupt {self.WHAT} of {self.target}: a ranking row without a "
                            f"source: {bad[0]!r}")

    @property
    def order(self) -> list[str]:
        """The sources, best first."""
        return [r["source"] for r in self.ranking]
