"""A training run's resumable state on disk, one layout for the training loops: :func:`fit`
(pretraining, transfer, multilingual) through :class:`Progress`, :meth:`RunState.resume` and
:meth:`RunState.checkpoint`, and the LID trainer (a checkpoint an epoch, through
:meth:`RunState.save` and :meth:`RunState.latest`). The speaker-adaptation study resumes per
adaptation instead (``asrtl/adapt/study.py``: a few steps on one batch need no checkpoint)::

    <run_dir>/checkpoints/<name>/     weights (safetensors), meta.json, trainer.pt
    <run_dir>/checkpoints/latest.json the checkpoint to resume from
    <run_dir>/checkpoints/best.json   the checkpoint the dev metric chose (when there is one)
    <run_dir>/metrics.jsonl           one row per epoch

Resuming, saving, pruning, best-checkpoint selection and the metrics history live here; the
loops only say what to store.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asrtl.errors import UserError
from asrtl.io import read_json, read_json_lines, write_json_atomic, write_text_atomic
from asrtl.models.ctc import ModelConfig
from asrtl.train import distributed
from asrtl.train.checkpoint import (
    DAMAGED,
    damage,
    load_trainer_state,
    load_weights,
    pointer_name,
    read_meta,
    save_checkpoint,
)

log = logging.getLogger(__name__)

# the dev metrics a checkpoint is chosen by, in order of precedence (``train.select``)
SELECT = {"wer": ("wer", "cer"), "cer": ("cer", "loss"), "loss": ("loss",)}


def _set_aside(ckpt: Path) -> None:
    """Renames the damaged checkpoint ``ckpt`` to ``<name>.damaged`` (``.damaged-2``... when
    an earlier one of that name was set aside too); gone already: nothing to do."""
    if not ckpt.is_dir():
        return
    target, n = ckpt.with_name(ckpt.name + DAMAGED), 1
    while target.exists():
        n += 1
        target = ckpt.with_name(f"{ckpt.name}{DAMAGED}-{n}")
    try:
        ckpt.rename(target)
    except FileNotFoundError:
        pass


def selection(scores: dict[str, Any], select: str) -> tuple[float, ...]:
    """The key the best checkpoint minimises: ``valid_<m>`` of a metrics row, or ``<m>`` of
    a stored best (older runs stored it without ``loss``)."""
    return tuple(scores.get(f"valid_{m}", scores.get(m, float("inf"))) for m in SELECT[select])


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of ``run_dir/metrics.jsonl`` (none when it does not exist)."""
    f = run_dir / "metrics.jsonl"
    if not f.is_file():
        return []
    return read_json_lines(f, "metrics file")


def write_metrics(run_dir: Path, rows: list[dict]) -> None:
    """Replaces ``run_dir/metrics.jsonl`` with ``rows``, atomically."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


@dataclass
class Progress:
    """Where a training run stands: what its checkpoints store besides the weights and the
    optimiser.

    Attributes:
        step: optimiser steps taken.
        epoch: epochs finished.
        batch_in_epoch: steps taken in the current epoch (> 0: a mid-epoch checkpoint).
        losses: this epoch's step losses (kept across a mid-epoch resume).
        by_language: the same per batch language (multilingual).
        best: the chosen checkpoint ``{"name", "wer", "cer", "loss", "epoch", "step"}``.
        history: the metrics rows, one per finished epoch.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    losses: list[float] = field(default_factory=list)
    by_language: dict[str, list[float]] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def trainer_state(self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                      batches_per_step: int) -> dict[str, Any]:
        """What ``trainer.pt`` holds (the epoch's losses only mid-epoch)."""
        mid = self.batch_in_epoch > 0
        return {"optimizer": optimizer.state_dict(), "step": self.step, "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch, "batches_per_step": batches_per_step,
                "best": self.best, "epoch_losses": self.losses if mid else [],
                "epoch_language_losses": self.by_language if mid else {},
                "scaler": scaler.state_dict() if scaler.is_enabled() else {}}


class RunState:
    """The checkpoints and metrics of one run directory.

    Args:
        run_dir: the run directory.
        keep: checkpoints kept besides the newest and the best (older ones are pruned).
    """

    def __init__(self, run_dir: Path, keep: int = 2) -> None:
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.keep = keep

    def latest(self) -> Path | None:
        """The checkpoint to resume from, or None for a fresh run: the one ``latest.json``
        names, or, when that one is damaged or gone (a disk that filled up, a file removed:
        :func:`asrtl.train.checkpoint.damage`), the newest whole one before it, with a
        warning naming what was skipped. Damaged checkpoints are set aside (renamed
        ``<name>.damaged``, kept for a look, never read or pruned), and ``latest.json`` and
        ``best.json`` are pointed at whole ones (see :meth:`_repair_pointers`).

        Raises:
            ValueError: checkpoints exist, and none of them is whole.
        """
        named = self._named_latest()
        others = sorted((p for p in self._checkpoints() if p != named), reverse=True)
        candidates = ([named] if named is not None else []) + others
        skipped: list[tuple[Path, str]] = []
        for path in candidates:
            problem = damage(path)
            if problem is None:
                for _, why in skipped:
                    log.warning("skipping a damaged checkpoint: %s; resuming from %s", why,
                                path.name)
                if skipped and distributed.is_main():  # one rank moves and rewrites
                    for bad, _ in skipped:
                        _set_aside(bad)
                    self._repair_pointers(path)
                return path
            skipped.append((path, problem))
        if skipped:
            raise UserError(f"no whole checkpoint in {self.ckpt_dir} to resume from ("
                            f"{'; '.join(why for _, why in skipped)}): remove {self.run_dir} "
                            f"to start over")
        return None

    def _checkpoints(self) -> list[Path]:
        """The checkpoint directories, oldest name first (not those being written or set
        aside as damaged)."""
        if not self.ckpt_dir.is_dir():
            return []
        return sorted(p for p in self.ckpt_dir.iterdir() if p.is_dir()
                      and not p.name.endswith(".tmp") and DAMAGED not in p.name)

    def _repair_pointers(self, resumed: Path) -> None:
        """After damaged checkpoints were set aside: ``latest.json`` names ``resumed``, and
        ``best.json`` the best as of ``resumed`` (its trainer state's) when that one is whole,
        else it is removed (the resumed run chooses again at its next epoch's end)."""
        self._point_latest(resumed.name, read_meta(resumed).to_dict())
        best_file = self.ckpt_dir / "best.json"
        named = self.best().get("name")
        if named is None or damage(self.ckpt_dir / str(named)) is None:
            return
        try:
            best = load_trainer_state(resumed).get("best") or {}
        except (OSError, RuntimeError, ValueError):
            best = {}
        if best.get("name") and damage(self.ckpt_dir / str(best["name"])) is None:
            write_json_atomic(best_file, best)
            log.warning("best.json named damaged checkpoint %s: now %s", named, best["name"])
        else:
            best_file.unlink(missing_ok=True)
            log.warning("best.json named damaged checkpoint %s: removed (the next epoch's "
                        "end chooses again)", named)

    def _point_latest(self, name: str, meta: dict[str, Any]) -> None:
        """``latest.json`` names checkpoint ``name`` (with its step and epoch)."""
        write_json_atomic(self.ckpt_dir / "latest.json", {"name": name, **{
            k: meta[k] for k in ("step", "epoch") if k in meta}})

    def _named_latest(self) -> Path | None:
        """The checkpoint ``latest.json`` names (None: no pointer, or an unreadable one)."""
        pointer = self.ckpt_dir / "latest.json"
        if not pointer.is_file():
            return None
        try:
            return self.ckpt_dir / pointer_name(pointer)
        except UserError:
            log.warning("%s is unreadable: looking for the newest whole checkpoint", pointer)
            return None

    def trainer_state(self) -> dict[str, Any] | None:
        """The latest checkpoint's trainer state (optimizer, counters), or None."""
        latest = self.latest()
        return None if latest is None else load_trainer_state(latest)

    def best(self) -> dict[str, Any]:
        """``best.json`` (empty when no checkpoint was chosen yet)."""
        f = self.ckpt_dir / "best.json"
        return read_json(f, "best-checkpoint pointer") if f.is_file() else {}

    def history(self, until: int | None = None, key: str = "step") -> list[dict]:
        """The metrics rows, those with ``key <= until`` when given (a resumed run rewrites
        the rows after its checkpoint)."""
        rows = read_metrics(self.run_dir)
        return rows if until is None else [r for r in rows if r[key] <= until]

    def save(self, name: str, model: nn.Module, meta: dict[str, Any],
             trainer: dict[str, Any], best: dict[str, Any] | None = None,
             history: list[dict] | None = None) -> Path:
        """Writes checkpoint ``name`` and makes it the latest; ``best`` (a chosen checkpoint
        ``{"name", ...}``) is written to ``best.json`` when it names this checkpoint, and
        ``history`` replaces the metrics. Old checkpoints beyond ``keep`` are pruned, never
        the best."""
        path = save_checkpoint(self.ckpt_dir, name, model, meta, trainer)
        if best and best.get("name") == name:
            write_json_atomic(self.ckpt_dir / "best.json", best)
        if history is not None:
            write_metrics(self.run_dir, history)
        self._point_latest(name, meta)
        self.prune(keep={name, *([best["name"]] if best else [])})
        return path

    def resume(self, model: nn.Module, batches_per_step: int
               ) -> tuple[Progress, dict[str, Any] | None]:
        """Loads the latest checkpoint's weights into ``model``: its :class:`Progress` and
        trainer state (``Progress()`` and None for a fresh run).

        Raises:
            ValueError: the checkpoint has another architecture, or was trained with another
                number of batches per step.
        """
        path = self.latest()
        if path is None:
            return Progress(), None
        there = ModelConfig.from_dict(read_meta(path).architecture)
        if there != model.cfg:
            raise UserError(f"checkpoint {path} has another architecture: "
                             + ", ".join(there.differences(model.cfg)))
        load_weights(model, path)
        state = load_trainer_state(path)
        if state.get("batches_per_step", 1) != batches_per_step:
            raise UserError(f"{path} was trained with {state.get('batches_per_step', 1)} "
                            f"batches per step (processes x train.accum_grad), this run has "
                            f"{batches_per_step}: resume with the same product")
        progress = Progress(
            step=state["step"], epoch=state["epoch"], batch_in_epoch=state["batch_in_epoch"],
            losses=list(state.get("epoch_losses", [])),
            by_language={k: list(v) for k, v in state.get("epoch_language_losses", {}).items()},
            best=state.get("best", {}), history=self.history(until=state["step"]))
        if progress.best.get("name") and damage(self.ckpt_dir / str(progress.best["name"])):
            log.warning("the best checkpoint so far, %s, is damaged or gone: the next "
                        "epoch's end chooses again", progress.best["name"])
            progress.best = {}
        log.info("resuming from %s (epoch %d, step %d)", path, progress.epoch, progress.step)
        return progress, state

    def checkpoint(self, name: str, model: nn.Module, meta: dict[str, Any], progress: Progress,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   batches_per_step: int, metrics: dict | None = None) -> Path:
        """:meth:`save` of a training run at ``progress``: mid-epoch the trainer state alone,
        at an epoch's end also ``best.json`` (when it is the best) and the metrics."""
        path = self.save(name, model,
                         {**meta, "step": progress.step, "epoch": progress.epoch,
                          "metrics": metrics or {}},
                         progress.trainer_state(optimizer, scaler, batches_per_step),
                         best=progress.best,
                         history=None if progress.batch_in_epoch else progress.history)
        if progress.batch_in_epoch:
            log.info("saved checkpoint %s: mid-epoch (%d epochs done, %d steps into the next)",
                     name, progress.epoch, progress.batch_in_epoch)
        else:
            log.info("saved checkpoint %s: end of epoch %d", name, progress.epoch)
        return path

    def prune(self, keep: set[str]) -> None:
        """Removes all but the newest ``self.keep`` checkpoints and those in ``keep``."""
        done = self._checkpoints()
        for p in done[:-self.keep] if self.keep > 0 else done:
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
