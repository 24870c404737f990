"""Where a transfer's source model comes from: a checkpoint, a pretraining run found under
``exp_dir``, a multilingual run, or none (scratch); and the architecture check. A lookup here
never trains: pretraining a missing source is the job layer's (``asrtl.jobs.pretrain_missing``,
which the transfer and rank recipes call first and which says so in its plan)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from asrtl.errors import MissingInput, UserError
from asrtl.layout import RunLayout, finished_files, is_finished
from asrtl.models.ctc import FEATURIZER_SETTINGS, TRAINING_SETTINGS, ModelConfig
from asrtl.models.ssl_weights import is_ssl_weights, load_ssl_encoder
from asrtl.multilingual.model import load_source
from asrtl.train.checkpoint import FORMAT_VERSION, Checkpoint, CheckpointMeta, load_checkpoint

log = logging.getLogger(__name__)

MULTILINGUAL = "multilingual:"


def pretrain_dir(exp_dir: str | Path, language: str, hours: float, units: str = "chars"
                 ) -> Path:
    """The pretraining run of a source language: ``<exp_dir>/pretrain/<language>-<hours>h``
    (``-phones`` after it for phone targets: :meth:`asrtl.layout.RunLayout.pretrain`)."""
    return RunLayout(exp_dir).pretrain(language, hours, units)


def check_units_match(source: Checkpoint | None, units: str) -> None:
    """A source with an output head must have the target's units (an encoder without a
    head, SSL weights, has none).

    Raises:
        UserError: naming both.
    """
    if source is not None and source.vocab is not None and source.vocab.units != units:
        raise UserError(f"source {source.path} has {source.vocab.units} units, the target "
                        f"units={units}: pretrain the source with units={units}")


def source_budget(source_hours: float | None, target_hours: float) -> float:
    """The sources' training hours: as given, or 6 x the target's (the study's 60 h -> 10 h)."""
    return source_hours or 6 * target_hours


def is_pretrained(run_dir: Path) -> bool:
    """A finished pretraining run (trained and scored: :func:`asrtl.layout.is_finished`)."""
    return is_finished(run_dir, "pretrain")


def resolve_source(source: str, source_checkpoint: str | None, exp_dir: str | Path,
                   hours: float, cfg: Any, device: torch.device) -> Checkpoint | None:
    """The source checkpoint: given, pretrained earlier, or none (scratch). Never trains
    (``asrtl.jobs.pretrain_missing`` does, before).

    Args:
        source: a language, ``none``, ``multilingual:a+b+c`` or ``from-checkpoint``.
        source_checkpoint: a checkpoint or run dir, or wav2vec 2.0-family weights
            (:mod:`asrtl.models.ssl_weights`; ``cfg.source_allow_pickle`` for fairseq files);
            wins over ``source``.
        hours: the source's training budget (its run dir's name).
        cfg: the recipe's config (``model``, ``source_allow_pickle``, ``units``: a language's
            run dir, and a source's units must be the target's).

    Raises:
        MissingInput: a missing multilingual run, or a language without a finished
            pretraining run.
        UserError: ``from-checkpoint`` without ``source_checkpoint``.
    """
    if source_checkpoint:
        if is_ssl_weights(source_checkpoint):
            preset = ModelConfig.from_dict({**cfg.model, "vocab_size": 0})
            model, meta = load_ssl_encoder(source_checkpoint, preset,
                                           bool(cfg.get("source_allow_pickle", False)))
            record = CheckpointMeta.from_dict({**meta, "format_version": FORMAT_VERSION,
                                               "architecture": model.cfg.to_dict()},
                                              source_checkpoint)
            return Checkpoint(path=Path(source_checkpoint), model=model, vocab=None,
                              meta=record)
        return _same_units(load_source(source_checkpoint), cfg)
    if source == "none":
        return None
    if source.startswith(MULTILINGUAL):
        languages = source.removeprefix(MULTILINGUAL)
        run_dir = RunLayout(exp_dir).multilingual(languages, units_of(cfg))
        if not is_finished(run_dir, "multilingual"):
            raise MissingInput(
                f"no finished multilingual model {languages} in {run_dir} (no "
                f"{' or '.join(finished_files('multilingual'))}): train it first with python "
                f"recipes/multilingual.py languages=[{languages.replace('+', ',')}]")
        return _same_units(load_source(run_dir), cfg)
    if source == "from-checkpoint":
        raise UserError("give source=<language> (or none) or source_checkpoint=<path>")
    run_dir = pretrain_dir(exp_dir, source, hours, units_of(cfg))
    if not is_pretrained(run_dir):
        raise MissingInput(f"source {source} has no pretrained model in {run_dir} (no "
                           f"{' or '.join(finished_files('pretrain'))}): recipes/transfer.py "
                           f"and recipes/rank.py (train_missing=true) pretrain it first")
    return _same_units(load_checkpoint(run_dir), cfg)


def units_of(cfg: Any) -> str:
    """A recipe config's ``units`` (``chars`` when it has none)."""
    return "chars" if cfg is None else str(cfg.get("units", "chars") or "chars")


def _same_units(source: Checkpoint, cfg: Any) -> Checkpoint:
    check_units_match(source, units_of(cfg))
    return source


def is_language(source: str) -> bool:
    """Whether a ``source=`` names a language to pretrain (not ``none``, a multilingual run
    or a checkpoint)."""
    return source not in ("none", "from-checkpoint") and not source.startswith(MULTILINGUAL)


def check_same_architecture(source: Checkpoint, target: ModelConfig) -> None:
    """The source must have the target's architecture (the vocabulary aside; a source
    without a featurizer or columns may be read through one or given some, a source with them
    only into the same).

    Raises:
        ValueError: naming the differing settings of both.
    """
    there = source.model.cfg
    diff = there.differences(target, ignore=TRAINING_SETTINGS)
    if there.featurizer != "none" or there.columns:  # its head and layers were trained on
        # its downstream layers' output, or with its columns' laterals: the same or nothing
        diff += [d for d in there.differences(target)
                 if d.split("=")[0] in FEATURIZER_SETTINGS]
    if diff:
        raise UserError(f"source checkpoint {source.path} has another architecture than "
                        f"model={target.name}: {', '.join(diff)} (choose the matching "
                        f"model=...)")
