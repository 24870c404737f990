"""``strategy=features``'s full-network embedding (``features.layers=fne``): each layer's
statistics over the target's training frames, computed once with the frozen encoder
before training (Garcia-Gasulla et al. standardise with the target's own data)."""

from __future__ import annotations

from pathlib import Path

import torch
from lhotse import CutSet

from asrtl.data.loader import BatchDataset, eval_batches
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform
from asrtl.train.checkpoint import load_checkpoint


@torch.no_grad()
def fit_fne_statistics(model: CTCModel, cuts: CutSet, vocab: Vocabulary, device: torch.device,
                       batch_duration_s: float = 120.0) -> None:
    """Sets ``model.featurizer``'s per-layer mean and standard deviation ``(L + 1, D)`` from
    the frozen frontend and encoder over ``cuts`` (valid frames only); a no-op for other
    featurizers."""
    if model.cfg.featurizer != "fne":
        return
    was_training = model.training
    model.to(device).eval()
    fbank = input_transform(model.cfg).to(device)
    total = sq = None
    frames = 0
    for batch in BatchDataset(cuts, eval_batches(cuts, batch_duration_s), vocab):
        batch = batch.to(device)
        x, lens = model.frontend(*fbank(batch.wavs, batch.wav_lens))
        states = torch.stack(model.encoder.states(x, lens))  # (L + 1, B, T, D)
        mask = (torch.arange(states.shape[2], device=device)[None] < lens[:, None])
        valid = states[:, mask].double()  # (L + 1, frames, D); float64 sums: E[x^2] - E[x]^2
        total = valid.sum(1) if total is None else total + valid.sum(1)
        sq = (valid ** 2).sum(1) if sq is None else sq + (valid ** 2).sum(1)
        frames += valid.shape[1]
    mean = total / frames
    std = (sq / frames - mean ** 2).clamp(min=0).sqrt()
    model.featurizer.set_statistics(mean.float().cpu(), std.float().cpu())
    model.train(was_training)


def layer_weights(checkpoint: str | Path) -> list[float] | None:
    """The learned weight of each layer (frontend first) of a ``features.layers=all`` model's
    checkpoint; None for other models."""
    model = load_checkpoint(checkpoint).model
    featurizer = getattr(model, "featurizer", None)
    return featurizer.layer_weights() if featurizer is not None else None
