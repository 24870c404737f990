"""Batches for training and evaluation: lhotse's duration-bucketed sampler picks the cuts,
a map-style dataset loads and pads them, a torch DataLoader prefetches in workers.

An epoch's batch list is a pure function of (cuts, seed, epoch): resuming mid-epoch skips
the batches already done and sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler

from asrtl.data.audio import SAMPLE_RATE, load_audio
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError


@dataclass
class Batch:
    """A padded batch.

    Attributes:
        ids: cut ids ``[B]``.
        texts: reference transcripts ``[B]``.
        wavs: ``(B, S)`` float32 samples, zero-padded.
        wav_lens: ``(B,)`` valid samples.
        targets: ``(B, L)`` token ids, zero-padded.
        target_lens: ``(B,)`` valid tokens.
        language: the language of every cut (a multilingual model's head), or None.
    """

    ids: list[str]
    texts: list[str]
    wavs: torch.Tensor
    wav_lens: torch.Tensor
    targets: torch.Tensor
    target_lens: torch.Tensor
    language: str | None = None

    def to(self, device: torch.device, non_blocking: bool = False) -> Batch:
        return Batch(self.ids, self.texts, self.wavs.to(device, non_blocking=non_blocking),
                     self.wav_lens.to(device), self.targets.to(device),
                     self.target_lens.to(device), self.language)

    def pin_memory(self) -> Batch:
        return Batch(self.ids, self.texts, self.wavs.pin_memory(), self.wav_lens.pin_memory(),
                     self.targets.pin_memory(), self.target_lens.pin_memory(), self.language)

    @property
    def duration_s(self) -> float:
        return float(self.wav_lens.sum()) / SAMPLE_RATE


def train_batches(cuts: CutSet, batch_duration_s: float, seed: int, epoch: int,
                  num_buckets: int = 10) -> list[list[str]]:
    """Cut ids per batch for one training epoch: shuffled, bucketed by duration. The whole
    epoch's plan, the same in every process (under DDP the training loop shards it by rank;
    lhotse's own sharding is off).

    Raises:
        ValueError: when a cut is longer than ``batch_duration_s``.
    """
    longest = max(c.duration for c in cuts)
    if longest > batch_duration_s:
        raise UserError(f"train.batch_duration_s={batch_duration_s} is shorter than the "
                        f"longest utterance ({longest:.1f} s)")
    with warnings.catch_warnings():  # an eager CutSet is fine at these sizes
        warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
        sampler = DynamicBucketingSampler(cuts, max_duration=batch_duration_s, shuffle=True,
                                          seed=seed, num_buckets=min(num_buckets, len(cuts)),
                                          drop_last=False, world_size=1, rank=0)
    sampler.set_epoch(epoch)
    return [list(b.ids) for b in sampler]


def eval_batches(cuts: CutSet, batch_duration_s: float) -> list[list[str]]:
    """Cut ids per batch for evaluation: sorted by duration (little padding), not shuffled."""
    out: list[list[str]] = [[]]
    total = 0.0
    for cut in sorted(cuts, key=lambda c: (c.duration, c.id)):
        if out[-1] and total + cut.duration > batch_duration_s:
            out.append([])
            total = 0.0
        out[-1].append(cut.id)
        total += cut.duration
    return [b for b in out if b]


class BatchDataset(torch.utils.data.Dataset):
    """Item ``i`` is the padded :class:`Batch` of ``batches[i]``."""

    def __init__(self, cuts: CutSet, batches: list[list[str]], vocab: Vocabulary) -> None:
        self.cuts = {c.id: c for c in cuts}
        self.batches = batches
        self.vocab = vocab

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> Batch:
        cuts = [self.cuts[cid] for cid in self.batches[i]]
        wavs, wav_lens = load_padded(cuts)
        texts = [c.supervisions[0].text for c in cuts]
        tokens = [self.vocab.encode(t) for t in texts]
        targets = np.zeros((len(cuts), max(1, max(len(t) for t in tokens))), dtype=np.int64)
        for j, t in enumerate(tokens):
            targets[j, :len(t)] = t
        return Batch(ids=[c.id for c in cuts], texts=texts, wavs=wavs, wav_lens=wav_lens,
                     targets=torch.from_numpy(targets),
                     target_lens=torch.tensor([len(t) for t in tokens]))


def load_padded(cuts: list) -> tuple[torch.Tensor, torch.Tensor]:
    """The cuts' audio at 16 kHz, zero-padded: ``(wavs (B, S), wav_lens (B,))``."""
    audio = [load_audio(c) for c in cuts]
    wavs = np.zeros((len(cuts), max(len(a) for a in audio)), dtype=np.float32)
    for j, a in enumerate(audio):
        wavs[j, :len(a)] = a
    return torch.from_numpy(wavs), torch.tensor([len(a) for a in audio])


def make_loader(dataset: BatchDataset, num_workers: int = 0, pin_memory: bool = False,
                start: int = 0) -> torch.utils.data.DataLoader:
    """Prefetching loader over ``dataset`` from batch ``start`` on (for resuming)."""
    indices = list(range(start, len(dataset)))
    return torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices), batch_size=None, shuffle=False,
        num_workers=num_workers, pin_memory=pin_memory,
        persistent_workers=False, prefetch_factor=4 if num_workers else None)
