"""Where a transfer's source model comes from: a checkpoint, a pretraining run found (or made)
under ``exp_dir``, a multilingual run, or none (scratch); and the architecture check."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from asrtl.layout import RunLayout, finished_files, is_finished
from asrtl.models.ctc import TRAINING_SETTINGS, ModelConfig
from asrtl.models.ssl_weights import is_ssl_weights, load_ssl_encoder
from asrtl.multilingual.model import load_source
from asrtl.train.checkpoint import Checkpoint, load_checkpoint
from asrtl.train.run import pretrain_language

log = logging.getLogger(__name__)

MULTILINGUAL = "multilingual:"


def pretrain_dir(exp_dir: str | Path, language: str, hours: float) -> Path:
    """The pretraining run of a source language: ``<exp_dir>/pretrain/<language>-<hours>h``
    (:meth:`asrtl.layout.RunLayout.pretrain`)."""
    return RunLayout(exp_dir).pretrain(language, hours)


def source_budget(source_hours: float | None, target_hours: float) -> float:
    """The sources' training hours: as given, or 6 x the target's (the study's 60 h -> 10 h)."""
    return source_hours or 6 * target_hours


def is_pretrained(run_dir: Path) -> bool:
    """A finished pretraining run (trained and scored: :func:`asrtl.layout.is_finished`)."""
    return is_finished(run_dir, "pretrain")


def resolve_source(source: str, source_checkpoint: str | None, exp_dir: str | Path,
                   hours: float, cfg: Any, device: torch.device,
                   train_missing: bool = True) -> Checkpoint | None:
    """The source checkpoint: given, pretrained earlier, pretrained now, or none (scratch).

    Args:
        source: a language, ``none``, ``multilingual:a+b+c`` or ``from-checkpoint``.
        source_checkpoint: a checkpoint or run dir, or wav2vec 2.0-family weights
            (:mod:`asrtl.models.ssl_weights`; ``cfg.source_allow_pickle`` for fairseq files);
            wins over ``source``.
        hours: the source's training budget (its run dir's name).
        cfg: the recipe's config (``data``, ``model``, ``train``, ``decode``, ``seed``), used
            to pretrain a missing source.
        train_missing: pretrain a language that has no finished run (else an error).

    Raises:
        FileNotFoundError: a missing multilingual run, or a missing source with
            ``train_missing=False``.
        ValueError: ``from-checkpoint`` without ``source_checkpoint``.
    """
    if source_checkpoint:
        if is_ssl_weights(source_checkpoint):
            preset = ModelConfig.from_dict({**cfg.model, "vocab_size": 0})
            model, meta = load_ssl_encoder(source_checkpoint, preset,
                                           bool(cfg.get("source_allow_pickle", False)))
            return Checkpoint(path=Path(source_checkpoint), model=model, vocab=None, meta=meta)
        return load_source(source_checkpoint)
    if source == "none":
        return None
    if source.startswith(MULTILINGUAL):
        languages = source.removeprefix(MULTILINGUAL)
        run_dir = RunLayout(exp_dir).multilingual(languages)
        if not is_finished(run_dir, "multilingual"):
            raise FileNotFoundError(
                f"no finished multilingual model {languages} in {run_dir} (no "
                f"{' or '.join(finished_files('multilingual'))}): train it first with python "
                f"recipes/multilingual.py languages=[{languages.replace('+', ',')}]")
        return load_source(run_dir)
    if source == "from-checkpoint":
        raise ValueError("give source=<language> (or none) or source_checkpoint=<path>")
    run_dir = pretrain_dir(exp_dir, source, hours)
    if not is_pretrained(run_dir):
        if not train_missing:
            raise FileNotFoundError(f"source {source} has no pretrained model in {run_dir} "
                                    f"(train_missing=false)")
        log.info("source %s has no finished pretraining: pretraining it on %g h in %s",
                 source, hours, run_dir)
        data = {**cfg.data, "hours": hours}
        config = {"language": source, "data": data, "model": dict(cfg.model),
                  "train": dict(cfg.train), "seed": cfg.seed, "decode": dict(cfg.decode)}
        pretrain_language(run_dir, source, data, cfg.model, cfg.train, cfg.decode, device,
                          cfg.seed, config)
    return load_checkpoint(run_dir)


def check_same_architecture(source: Checkpoint, target: ModelConfig) -> None:
    """The source must have the target's architecture (the vocabulary aside).

    Raises:
        ValueError: naming the differing settings of both.
    """
    diff = source.model.cfg.differences(target, ignore=TRAINING_SETTINGS)
    if diff:
        raise ValueError(f"source checkpoint {source.path} has another architecture than "
                         f"model={target.name}: {', '.join(diff)} (choose the matching "
                         f"model=...)")
