"""Training a frame-level LID classifier: frame cross-entropy, classes weighted by their
share of the training audio, an atomic checkpoint per epoch, resumed where a run stopped."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from lhotse import CutSet

from asrtl.data.features import SpecAugment
from asrtl.data.loader import load_padded, train_batches
from asrtl.errors import UserError
from asrtl.lid.model import LIDConfig, LIDModel, load_lid
from asrtl.train.loop import TrainConfig, step_seed
from asrtl.train.schedule import lr_factor
from asrtl.train.state import RunState

log = logging.getLogger(__name__)


def labelled_cuts(cuts: Mapping[str, CutSet]) -> tuple[CutSet, dict[str, int]]:
    """One cut set over all languages (ids prefixed ``<language>/``) and each cut's class."""
    out, labels = [], {}
    for k, (lang, cs) in enumerate(cuts.items()):
        for c in cs:
            c = c.with_id(f"{lang}/{c.id}")
            out.append(c)
            labels[c.id] = k
    return CutSet.from_cuts(out), labels


def class_weights(cuts: Mapping[str, CutSet]) -> torch.Tensor:
    """``(L,)`` loss weights inversely proportional to each language's training audio
    (a language with twice the audio counts half as much per frame), mean 1.

    Raises:
        ValueError: a language without training audio.
    """
    hours = []
    for lang, cs in cuts.items():
        total = sum(c.duration for c in cs)
        if total <= 0:
            raise UserError(f"LID language {lang!r} has no training audio")
        hours.append(total)
    w = 1.0 / torch.tensor(hours, dtype=torch.float32)
    return w * len(w) / w.sum()


def utterance_loss(log_post: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor,
                   weights: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy of each utterance's frame-averaged posterior (the score the
    ranking uses); shapes as in :func:`frame_loss`."""
    mask = (torch.arange(log_post.shape[1], device=lens.device)[None] < lens[:, None])
    mean = (log_post.exp() * mask[..., None]).sum(1) / lens[:, None].clamp(min=1)
    nll = -mean.clamp(min=1e-8).log().gather(1, labels[:, None])[:, 0]
    w = weights[labels]
    return (nll * w).sum() / w.sum()


def frame_loss(log_post: torch.Tensor, lens: torch.Tensor, labels: torch.Tensor,
               weights: torch.Tensor) -> torch.Tensor:
    """Weighted cross-entropy over valid frames.

    Args:
        log_post: ``(B, T, L)`` frame log-posteriors.
        lens: ``(B,)`` valid frames.
        labels: ``(B,)`` each utterance's class.
        weights: ``(L,)`` class weights.
    """
    mask = torch.arange(log_post.shape[1], device=lens.device)[None] < lens[:, None]
    nll = -log_post.gather(-1, labels[:, None, None].expand(-1, log_post.shape[1], 1))[..., 0]
    w = weights[labels][:, None] * mask
    return (nll * w).sum() / w.sum()


# TrainConfig fields LID training cannot use, and why (it has no dev pass, no DataLoader,
# one checkpoint per epoch, one process): set to anything but their defaults, they are named
# in the log; ``compile`` and a mixed precision it would silently skip are refused
NOT_USED = {"checkpoint_every_steps": "a checkpoint every epoch",
            "keep_checkpoints": "the newest checkpoint only",
            "num_workers": "audio read in the training process",
            "eval_batch_duration_s": "no dev pass", "select": "no dev pass",
            "sync_batchnorm": "one process"}


def check_lid_train(train: TrainConfig, section: str = "train") -> None:
    """What LID training does with ``train``: every field is honoured but those of
    :data:`NOT_USED` (logged when set) and the refused ones.

    Raises:
        UserError: ``stop_cer`` (a LID model has no CER), ``compile``, or ``amp`` other than
            ``auto``/``off`` (LID trains in full precision).
    """
    if train.stop_cer is not None:
        raise UserError(f"{section}.stop_cer={train.stop_cer}: a LID classifier has no CER; "
                        f"leave it null")
    if train.compile:
        raise UserError(f"{section}.compile=true: LID training does not compile its model; "
                        f"leave it false")
    if train.amp not in ("auto", "off"):
        raise UserError(f"{section}.amp={train.amp}: LID training runs in full precision; "
                        f"use auto or off")
    default = TrainConfig()
    for key, why in NOT_USED.items():
        if getattr(train, key) != getattr(default, key):
            log.info("LID training does not use %s.%s=%r (%s)", section, key,
                     getattr(train, key), why)


def train_lid(run_dir: Path, cuts: Mapping[str, CutSet], cfg: LIDConfig, train: TrainConfig,
              device: torch.device, seed: int, utterance_weight: float = 0.0) -> LIDModel:
    """Trains a classifier over ``cuts``' languages in ``run_dir`` (resuming a stopped run,
    returning a finished one as it is).

    Args:
        run_dir: gets ``checkpoints/epoch-NN/`` (+ ``latest.json``) and ``metrics.jsonl``.
        cuts: training cuts per language, in class order (``cfg.languages``).
        utterance_weight: weight of :func:`utterance_loss` beside the frame loss.
        train: every field honoured (``accum_grad`` batches per step included) but those
            :func:`check_lid_train` names.
    """
    check_lid_train(train, "lid.train")
    if list(cuts) != list(cfg.languages):
        raise UserError(f"LID training languages {list(cuts)} differ from the classes "
                        f"{list(cfg.languages)}")
    state = RunState(run_dir, keep=0)  # the newest checkpoint only
    torch.manual_seed(seed)
    model, epoch, latest = LIDModel(cfg), 0, state.latest()
    if latest is not None:
        model, meta = load_lid(latest)
        if LIDConfig.from_dict(meta.architecture) != cfg:  # lists in JSON, tuples here
            raise UserError(f"{run_dir} holds a LID model of other settings; use a new "
                            f"name=... or remove the directory")
        epoch = meta.epoch or 0
        if epoch < train.epochs:
            log.info("resuming LID training at epoch %d from %s", epoch, latest)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr,
                                  weight_decay=train.weight_decay)
    if latest is not None:
        optimizer.load_state_dict(state.trainer_state()["optimizer"])
    model.to(device).train()
    all_cuts, labels = labelled_cuts(cuts)
    weights = class_weights(cuts).to(device)
    specaug = SpecAugment() if train.spec_augment else None
    first_epoch = train_batches(all_cuts, train.batch_duration_s, seed, 0)
    steps_per_epoch = -(-len(first_epoch) // train.accum_grad)  # optimizer steps
    total = steps_per_epoch * train.epochs
    by_id = {c.id: c for c in all_cuts}
    while epoch < train.epochs:
        t0, losses = time.perf_counter(), []
        batches = (first_epoch if epoch == 0 else
                   train_batches(all_cuts, train.batch_duration_s, seed, epoch))
        for i, batch in enumerate(batches):
            step = epoch * steps_per_epoch + i // train.accum_grad
            first, last = i % train.accum_grad == 0, (
                (i + 1) % train.accum_grad == 0 or i + 1 == len(batches))
            if first:
                torch.manual_seed(step_seed(seed, step))
                for g in optimizer.param_groups:
                    g["lr"] = train.lr * lr_factor(step, total, train.warmup_steps,
                                                   train.schedule, train.final_lr_ratio)
                optimizer.zero_grad(set_to_none=True)
            wavs, wav_lens = load_padded([by_id[c] for c in batch])
            y = torch.tensor([labels[c] for c in batch], device=device)
            log_post, lens = model(wavs.to(device), wav_lens.to(device), augment=specaug)
            loss = frame_loss(log_post, lens, y, weights)
            if utterance_weight:
                loss = loss + utterance_weight * utterance_loss(log_post, lens, y, weights)
            (loss / train.accum_grad).backward()
            if last:
                torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
                optimizer.step()
            losses.append(loss.item())
        epoch += 1
        row = {"epoch": epoch, "train_loss": round(sum(losses) / len(losses), 4),
               "epoch_s": round(time.perf_counter() - t0, 1)}
        log.info("LID epoch %d: loss %.4f (%.1f s)", epoch, row["train_loss"], row["epoch_s"])
        state.save(f"epoch-{epoch:03d}", model,
                   {"kind": "lid", "languages": list(cfg.languages), "epoch": epoch,
                    "metrics": row}, {"optimizer": optimizer.state_dict(), "epoch": epoch},
                   history=[*state.history(epoch - 1, key="epoch"), row])
    return model.eval()
