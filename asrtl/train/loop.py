"""The training loop: one page, top to bottom, no callbacks.

Every random draw of a step (dropout, SpecAugment) comes from the global torch RNG seeded
with ``(seed, step)``, batches are a pure function of ``(seed, epoch)``, the learning rate a
pure function of the step: a run killed with ``kill -9`` and started again from its last
checkpoint ends with the same weights as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from torch.nn.parallel import DistributedDataParallel

from asrtl.data.features import Fbank, SpecAugment
from asrtl.data.loader import Batch, BatchDataset, make_loader, train_batches
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.evaluate import ctc_loss, decode_cuts
from asrtl.eval.score import score
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform
from asrtl.models.layers import freeze_frozen_norms, set_trainable
from asrtl.settings import checked_fields
from asrtl.train import distributed
from asrtl.train.device import amp_dtype, autocast
from asrtl.train.schedule import lr_factor
from asrtl.train.signals import Interrupted, StopFlag, stop_requests
from asrtl.train.state import SELECT, Progress, RunState, selection, write_metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (``conf/train/*.yaml``).

    Attributes:
        epochs: passes over the training split.
        lr: peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps.
        schedule: ``cosine``, ``linear``, ``constant`` or ``triangular`` after warm-up.
        final_lr_ratio: learning rate at the end, as a share of ``lr``.
        batch_duration_s: audio seconds per batch (lhotse dynamic bucketing).
        grad_clip: max gradient norm.
        spec_augment: SpecAugment masking while training.
        amp: ``auto`` (bf16/fp16 on GPU, off on CPU), ``bf16``, ``fp16`` or ``off``.
        checkpoint_every_steps: a resumable checkpoint every so many steps (and every epoch).
        keep_checkpoints: step checkpoints kept besides the best.
        num_workers: data loading processes (0: in the training process).
        eval_batch_duration_s: audio seconds per evaluation batch.
        accum_grad: batches whose gradients add up to one step (per process under DDP).
        compile: train through ``torch.compile(model)`` (see BENCHMARKS.md: on a CPU every
            new batch shape recompiles).
        select: the dev metric the best checkpoint minimises: ``wer`` (then CER), ``cer``
            (then loss) or ``loss``.
        sync_batchnorm: batch-norm statistics over all GPUs under torchrun (else ignored,
            with a warning).
        stop_cer: stop after the first epoch whose dev CER is at most this (Lightning's
            ``EarlyStopping(stopping_threshold=...)``); ``epochs`` is then a cap, and a run that
            reaches it first says so in a warning. The learning-rate schedule still spans
            ``epochs``. None: train every epoch.
    """

    epochs: int = 20
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    schedule: str = "cosine"
    final_lr_ratio: float = 0.05
    batch_duration_s: float = 60.0
    grad_clip: float = 5.0
    spec_augment: bool = True
    amp: str = "auto"
    checkpoint_every_steps: int = 100
    keep_checkpoints: int = 2
    num_workers: int = 1
    eval_batch_duration_s: float = 120.0
    accum_grad: int = 1
    compile: bool = False
    select: str = "cer"
    sync_batchnorm: bool = False
    stop_cer: float | None = None

    @classmethod
    def from_dict(cls, d: Any) -> TrainConfig:
        """Builds from a ``train:`` mapping (a dict or an OmegaConf node).

        Raises:
            ValueError: an unknown key, a value of the wrong type or out of range, naming
                ``train.<key>``.
        """
        d = dict(d)
        if "amp" in d and d["amp"] in (False, None):  # YAML reads `amp: off` as false
            d["amp"] = "off"
        cfg = cls(**checked_fields(cls, d, "train"))
        if cfg.select not in SELECT:
            raise UserError(f"train.select must be one of {', '.join(SELECT)}, got "
                            f"{cfg.select!r}")
        for key, bad in (("epochs", cfg.epochs < 1), ("lr", cfg.lr <= 0),
                         ("batch_duration_s", cfg.batch_duration_s <= 0),
                         ("accum_grad", cfg.accum_grad < 1)):
            if bad:
                raise UserError(f"train.{key} must be > 0, got {getattr(cfg, key)!r}")
        if cfg.stop_cer is not None and not 0 < cfg.stop_cer <= 1:
            raise UserError(f"train.stop_cer must be in (0, 1] (a dev CER as a fraction) or "
                            f"null, got {cfg.stop_cer!r}")
        return cfg


@dataclass
class TrainData:
    """What :func:`fit` trains and validates on.

    Attributes:
        batches: ``epoch -> batch plan``, a pure function of the epoch (resumable).
        dataset: ``batch plan -> map-style dataset`` of :class:`Batch` (one per plan entry).
        validate: ``(model, fbank) -> {"loss", "wer", "cer", ...}`` on held-out data; extra
            keys (per language, say) are logged as ``valid_<key>``.
    """

    batches: Callable[[int], list]
    dataset: Callable[[list], torch.utils.data.Dataset]
    validate: Callable[[torch.nn.Module, Fbank], dict[str, float]]


def dev_scores(model: CTCModel, fbank: Fbank, vocab: Vocabulary, cuts: CutSet,
               device: torch.device, batch_duration_s: float) -> dict[str, float]:
    """Greedy decoding of ``cuts``: ``{"loss", "wer", "cer"}`` (fractions; for phones
    ``cer`` is the phone error rate)."""
    dev = decode_cuts(model, fbank, vocab, cuts, device, batch_duration_s)
    scores = score(dev.refs, dev.hyps, vocab.units)
    return {"loss": dev.loss, "wer": scores["wer"], "cer": scores["cer"]}


def one_language(vocab: Vocabulary, train_cuts: CutSet, dev_cuts: CutSet, cfg: TrainConfig,
                 seed: int, device: torch.device) -> TrainData:
    """One language: duration-bucketed shuffled batches, validation WER/CER on ``dev_cuts``."""
    def validate(model: torch.nn.Module, fbank: Fbank) -> dict[str, float]:
        return dev_scores(model, fbank, vocab, dev_cuts, device, cfg.eval_batch_duration_s)

    return TrainData(
        batches=lambda epoch: train_batches(train_cuts, cfg.batch_duration_s, seed, epoch),
        dataset=lambda batches: BatchDataset(train_cuts, batches, vocab),
        validate=validate)


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63 - 1)


def optimizer_groups(model: torch.nn.Module, groups: list[dict] | None) -> list[dict]:
    """Optimizer groups with a ``lr_scale`` each; frozen parameters are left out.

    Raises:
        ValueError: when nothing is left to train.
    """
    groups = groups or [{"name": "all", "params": list(model.parameters()), "lr_scale": 1.0}]
    out = []
    for g in groups:
        params = [p for p in g["params"] if p.requires_grad]
        if params:
            out.append({**g, "params": params, "lr_scale": float(g.get("lr_scale", 1.0))})
    if not out:
        raise UserError("nothing to train: every parameter is frozen")
    return out


def make_optimizer(model: torch.nn.Module, groups: list[dict] | None, cfg: TrainConfig,
                   previous: torch.optim.Optimizer | None = None) -> torch.optim.AdamW:
    """AdamW over what ``model`` trains now (:func:`optimizer_groups`); the moments of
    parameters that ``previous`` also trained carry over (a stage change)."""
    groups = optimizer_groups(model, groups)
    for g in groups:
        g["lr"] = cfg.lr * g["lr_scale"]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if previous is not None:
        for p in (p for g in opt.param_groups for p in g["params"]):
            if p in previous.state:
                opt.state[p] = previous.state[p]
    return opt


@dataclass(frozen=True)
class Stages:
    """Layer sets trained in turn (chain-thaw, gradual unfreezing), each for ``epochs``
    epochs, the last to the end; no sets: every trainable layer throughout."""

    layers: list[list[str]] | None = None
    epochs: int = 1

    def of(self, epoch: int) -> int | None:
        """The stage of ``epoch`` (None without stages)."""
        if not self.layers:
            return None
        return min(epoch // max(self.epochs, 1), len(self.layers) - 1)

    def starts(self, epoch: int) -> bool:
        """Whether ``epoch`` (> 0) begins a new stage."""
        return epoch > 0 and self.of(epoch) != self.of(epoch - 1)


def rank_batches(plan: list, world: distributed.World, accum_grad: int) -> tuple[list, int]:
    """This rank's batches of an epoch's plan, in step order, and the number of steps: step
    ``s`` takes batches ``s*P .. s*P+P-1`` (``P = world.size * accum_grad``), ``accum_grad``
    of them on each rank.

    Raises:
        ValueError: an epoch shorter than one step.
    """
    per_step = world.size * accum_grad
    steps = len(plan) // per_step
    if steps == 0:
        raise UserError(f"an epoch has {len(plan)} batches, fewer than the {per_step} of "
                        f"one step ({world.size} processes x train.accum_grad="
                        f"{accum_grad}): lower train.batch_duration_s")
    start = world.rank * accum_grad
    return [plan[s * per_step + start + a] for s in range(steps) for a in range(accum_grad)], steps


def fit(model: CTCModel, data: TrainData, cfg: TrainConfig, run_dir: Path,
        device: torch.device, seed: int, meta: dict[str, Any],
        param_groups: list[dict] | None = None, stages: list[list[str]] | None = None,
        stage_epochs: int = 1) -> dict[str, Any]:
    """Trains ``model`` with CTC, resuming from ``run_dir/checkpoints/latest.json`` if present.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank runs this: a step takes
    ``WORLD_SIZE x accum_grad`` consecutive batches of the epoch's plan, ``accum_grad`` on
    each rank, and DDP averages the gradients, so N ranks train exactly as one process with
    ``accum_grad = N`` (the same batches, the same random draws). Rank 0 alone validates and
    writes.

    Args:
        model: the model (its weights are the starting point unless resuming); a
            multilingual one takes each batch's ``language``.
        data: batches and validation (:func:`one_language`, or several languages).
        cfg: hyperparameters.
        run_dir: the run directory (checkpoints/, metrics.jsonl, tensorboard/).
        device: where to train (this rank's GPU under torchrun).
        seed: seeds batching and every random draw.
        meta: metadata stored in each checkpoint (language, features, config, parent...).
        param_groups: optional ``[{"name", "params", "lr_scale"}]`` (per-layer rates).
        stages: optional layer sets trained in turn (chain-thaw, gradual unfreezing), each for
            ``stage_epochs`` epochs; the last one continues to the end.

    Returns:
        ``{"best": {...}, "last": {...}, "steps": n, "train_wall_s": s,
        "audio_s_trained": a}``
        (``best`` and ``last`` on rank 0 only).
    """
    world = distributed.init(device)
    run = RunState(run_dir, cfg.keep_checkpoints)
    model.to(device)
    fbank = input_transform(model.cfg).to(device)
    if cfg.sync_batchnorm:
        distributed.sync_batchnorm(model, world, device)
    # raw-waveform models mask in time themselves (wav2vec 2.0 fine-tuning's masking)
    specaug = (SpecAugment() if cfg.spec_augment and not model.cfg.raw_waveform
               else SpecAugment(0, 0, 0, 0))
    dtype = amp_dtype(device, cfg.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    per_step = world.size * cfg.accum_grad  # batches of the plan per optimiser step
    plan = Stages(stages, stage_epochs)
    forward = torch.compile(model) if cfg.compile else model

    progress, state = run.resume(model, per_step)
    # a checkpoint taken at an epoch's end holds the optimizer of that epoch's stage
    epoch = progress.epoch
    stage = plan.of(epoch - 1 if epoch > 0 and progress.batch_in_epoch == 0 else epoch)
    if stage is not None:
        set_trainable(model, plan.layers[stage])
    train_model = distributed.wrap(forward, model, world, device)
    optimizer = make_optimizer(model, param_groups, cfg)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
    if world.main:
        write_metrics(run_dir, progress.history)

    first_epoch = rank_batches(data.batches(0), world, cfg.accum_grad)
    total_steps = first_epoch[1] * cfg.epochs
    if cfg.warmup_steps >= total_steps and world.main:
        log.warning("train.warmup_steps=%d is not below this run's %d steps: the learning rate "
                    "never leaves warm-up (lower train.warmup_steps)", cfg.warmup_steps,
                    total_steps)
    writer = _writer(run_dir, progress.step) if world.main else _NoWriter()
    trained_audio, wall0 = 0.0, time.perf_counter()

    from tqdm.auto import tqdm

    with stop_requests() as stop:
        while progress.epoch < cfg.epochs and not _reached(progress, cfg, device, world.size):
            epoch = progress.epoch
            if progress.batch_in_epoch == 0 and plan.starts(epoch):
                # moments of what still trains carry over; DDP wraps the model again, to
                # reduce the gradients of what trains now
                set_trainable(model, plan.layers[plan.of(epoch)])
                train_model = distributed.wrap(forward, model, world, device)
                optimizer = make_optimizer(model, param_groups, cfg, previous=optimizer)
                log.info("stage %d: training %s", plan.of(epoch),
                         ", ".join(plan.layers[plan.of(epoch)]))
            batches, steps = (first_epoch if epoch == 0 else
                              rank_batches(data.batches(epoch), world, cfg.accum_grad))
            loader = make_loader(data.dataset(batches), cfg.num_workers,
                                 pin_memory=device.type == "cuda",
                                 start=progress.batch_in_epoch * cfg.accum_grad)
            t0 = time.perf_counter()
            model.train()
            freeze_frozen_norms(model)  # frozen layers keep their batch-norm statistics
            bar = tqdm(total=steps - progress.batch_in_epoch,
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                       disable=None if world.main else True)
            micro = iter(loader)
            for i in range(progress.batch_in_epoch, steps):
                step = progress.step
                factor = lr_factor(step, total_steps, cfg.warmup_steps, cfg.schedule,
                                   cfg.final_lr_ratio)
                for g in optimizer.param_groups:
                    g["lr"] = cfg.lr * g["lr_scale"] * factor
                batch = [next(micro).to(device, non_blocking=True) for _ in range(cfg.accum_grad)]
                seeds = [step_seed(seed, step * per_step + world.rank * cfg.accum_grad + a)
                         for a in range(cfg.accum_grad)]
                loss, grad_norm = train_step(train_model, fbank, specaug, optimizer, scaler, batch,
                                             cfg.grad_clip, dtype, seeds)
                loss = distributed.mean(loss, device)
                progress.step, progress.batch_in_epoch = step + 1, i + 1
                progress.losses.append(loss)
                trained_audio += sum(b.duration_s for b in batch)
                bar.update()
                bar.set_postfix(loss=f"{loss:.3f}")
                _log_step(writer, progress, batch, per_step, loss, cfg.lr * factor, grad_norm)
                mid_epoch = i + 1 < steps
                saved = progress.step % cfg.checkpoint_every_steps == 0
                if saved and mid_epoch and world.main:
                    run.checkpoint(f"step-{progress.step:06d}", model, meta, progress,
                                   optimizer, scaler, per_step)
                if mid_epoch and _stop_requested(stop, device, world.size):
                    if world.main and not saved:
                        run.checkpoint(f"step-{progress.step:06d}", model, meta, progress,
                                       optimizer, scaler, per_step)
                    writer.close()
                    raise _interrupted(stop, f"at step {progress.step}", run.ckpt_dir)
            bar.close()
            progress.epoch, progress.batch_in_epoch = epoch + 1, 0
            if world.main:
                row = _epoch_row(progress, data.validate(model, fbank), cfg.lr * factor,
                                 time.perf_counter() - t0)
                progress.history.append(row)
                for k in row.keys() - {"epoch", "step", "lr", "epoch_s"}:
                    writer.add_scalar(k.replace("_", "/", 1), row[k], progress.step)
                log.info("epoch %d | train %.3f | valid %.3f | WER %.1f%% | CER %.1f%% | lr %.2e | "
                         "%.0f s", row["epoch"], row["train_loss"], row["valid_loss"],
                         100 * row["valid_wer"], 100 * row["valid_cer"], row["lr"], row["epoch_s"])
                name = f"step-{progress.step:06d}"
                best = progress.best
                if not best or selection(row, cfg.select) < selection(best, cfg.select):
                    progress.best = {"name": name, "wer": row["valid_wer"],
                                     "cer": row["valid_cer"], "loss": row["valid_loss"],
                                     "epoch": row["epoch"], "step": row["step"]}
                run.checkpoint(name, model, meta, progress, optimizer, scaler, per_step,
                               {"valid": {k: row[k] for k in row if k.startswith("valid")}})
            progress.losses, progress.by_language = [], {}
            distributed.barrier()  # the others wait while rank 0 validates and writes
            if progress.epoch < cfg.epochs and _stop_requested(stop, device, world.size):
                writer.close()
                raise _interrupted(stop, f"after epoch {progress.epoch}", run.ckpt_dir)
    writer.close()
    history = progress.history
    if cfg.stop_cer is not None and world.main:
        if _reached(progress, cfg, device, 1):
            log.info("dev CER %.3f <= train.stop_cer=%g after epoch %d of at most %d: stopped",
                     history[-1]["valid_cer"], cfg.stop_cer, progress.epoch, cfg.epochs)
        else:
            log.warning("dev CER never reached train.stop_cer=%g in the cap of train.epochs=%d "
                        "(best %.3f)", cfg.stop_cer, cfg.epochs, progress.best.get("cer", 1.0))
    return {"best": progress.best, "last": history[-1] if history else {},
            "steps": progress.step, "train_wall_s": round(time.perf_counter() - wall0, 1),
            "audio_s_trained": round(distributed.mean(trained_audio, device) * world.size, 1)}


def _log_step(writer: Any, progress: Progress, batch: list[Batch], per_step: int, loss: float,
              lr: float, grad_norm: float) -> None:
    """A step's scalars to TensorBoard; one language per step: its loss by language too."""
    writer.add_scalar("train/loss", loss, progress.step)
    language = batch[0].language
    if language is not None and per_step == 1:
        progress.by_language.setdefault(language, []).append(loss)
        writer.add_scalar(f"train/loss/{language}", loss, progress.step)
    writer.add_scalar("train/lr", lr, progress.step)
    writer.add_scalar("train/grad_norm", grad_norm, progress.step)


def _epoch_row(progress: Progress, valid: dict[str, float], lr: float, epoch_s: float
               ) -> dict[str, Any]:
    """The metrics row of the epoch ``progress`` just finished."""
    losses = progress.losses
    per_language = {f"train_loss/{k}": round(sum(v) / len(v), 4)
                    for k, v in sorted(progress.by_language.items())}
    return {"epoch": progress.epoch, "step": progress.step,
            "train_loss": round(sum(losses) / max(len(losses), 1), 4),
            **{f"valid_{k}": round(float(v), 4) for k, v in valid.items()},
            **per_language, "lr": lr, "epoch_s": round(epoch_s, 1)}


def _reached(progress: Progress, cfg: TrainConfig, device: torch.device, world_size: int
             ) -> bool:
    """Whether the last finished epoch's dev CER met ``train.stop_cer`` (rank 0 validates:
    under DDP its answer, so that every rank stops after the same epoch)."""
    if cfg.stop_cer is None:
        return False
    met = bool(progress.history) and progress.history[-1].get("valid_cer", 1.0) <= cfg.stop_cer
    if world_size == 1:
        return met
    return distributed.mean(float(met), device) > 0


def _stop_requested(stop: StopFlag, device: torch.device, world_size: int) -> bool:
    """Whether a stop signal reached this process (under DDP: any rank, so that all stop
    after the same step)."""
    if world_size == 1:
        return bool(stop.signum)
    return distributed.mean(float(bool(stop.signum)), device) > 0


def _interrupted(stop: StopFlag, where: str, ckpt_dir: Path) -> Interrupted:
    return Interrupted(stop.signum or 15, (
        f"interrupted by {stop.name or 'a signal to another process'} {where}: checkpoint in "
        f"{ckpt_dir}; run the same command again to resume"))


class _NoWriter:
    """What ranks other than 0 log to: nothing."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _writer(run_dir: Path, step: int) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / "tensorboard"), purge_step=step)


def train_step(model: torch.nn.Module, fbank: Fbank, specaug: SpecAugment,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               batch: Batch | list[Batch], grad_clip: float, dtype: torch.dtype | None,
               seeds: list[int] | None = None) -> tuple[float, float]:
    """One optimisation step on a batch, or on micro-batches whose gradients add up (each
    loss divided by their number), all already on the device. Under DDP the gradients are
    averaged over the ranks at the last micro-batch's backward.

    Args:
        seeds: the global torch seed before each micro-batch (dropout, SpecAugment).

    Returns:
        ``(loss, grad_norm)`` as Python floats (the loss: the micro-batches' mean).
    """
    batches = [batch] if isinstance(batch, Batch) else batch
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for j, b in enumerate(batches):
        if seeds is not None:
            torch.manual_seed(seeds[j])
        last = j == len(batches) - 1
        no_sync = (model.no_sync() if isinstance(model, DistributedDataParallel) and not last
                   else contextlib.nullcontext())
        language = {} if b.language is None else {"language": b.language}
        with no_sync:
            with autocast(b.wavs.device, dtype):
                feats, feat_lens = fbank(b.wavs, b.wav_lens)
                log_probs, out_lens = model(specaug(feats), feat_lens, **language)
            loss = ctc_loss(log_probs, out_lens, b.targets, b.target_lens) / len(batches)
            scaler.scale(loss).backward()
        total += loss.item()
    scaler.unscale_(optimizer)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(optimizer)
    scaler.update()
    return total, float(grad_norm)
