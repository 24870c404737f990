"""Acoustic units without transcripts: frames of one shared front end quantised by one
k-means codebook (HuBERT's first-iteration targets: clustered filterbank frames), and the
similarity of two languages' unit n-gram distributions (in the spirit of ATDS,
arXiv 2402.02302, which compares SSL-unit distributions)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch
from lhotse import CutSet
from scipy.cluster.vq import kmeans2

from asrtl.data.features import Fbank, FeatureConfig
from asrtl.data.loader import eval_batches, load_padded
from asrtl.errors import UserError


@torch.no_grad()
def fbank_frames(cuts: CutSet, batch_duration_s: float = 120.0) -> list[np.ndarray]:
    """Each cut's normalised log-mel frames ``(T, F)`` (float32).

    Raises:
        ValueError: ``cuts`` is empty.
    """
    by_id = {c.id: c for c in cuts}
    if not by_id:
        raise UserError("no audio for acoustic units (0 utterances)")
    fbank = Fbank(FeatureConfig())
    out = []
    for batch in eval_batches(CutSet.from_cuts(by_id.values()), batch_duration_s):
        feats, lens = fbank(*load_padded([by_id[i] for i in batch]))
        out += [f[:n].numpy() for f, n in zip(feats, lens.tolist(), strict=True)]
    return out


def fit_codebook(pools: list[list[np.ndarray]], k: int, frames_per_pool: int,
                 seed: int) -> np.ndarray:
    """``(k, F)`` centroids fitted on the same number of frames from each pool (each
    language counts equally)."""
    rng = np.random.default_rng(seed)
    sample = []
    for utts in pools:
        frames = np.concatenate(utts)
        take = rng.choice(len(frames), size=min(frames_per_pool, len(frames)), replace=False)
        sample.append(frames[take])
    data = np.concatenate(sample).astype(np.float64)
    centroids, _ = kmeans2(data, k, minit="++", seed=seed)
    return centroids


def units(utts: list[np.ndarray], codebook: np.ndarray) -> list[np.ndarray]:
    """Each utterance's unit sequence, repeats collapsed (``[3, 3, 7] -> [3, 7]``)."""
    c = torch.from_numpy(codebook).float()
    out = []
    for frames in utts:
        ids = torch.cdist(torch.from_numpy(frames).float(), c).argmin(1).numpy()
        keep = np.ones(len(ids), dtype=bool)
        keep[1:] = ids[1:] != ids[:-1]
        out.append(ids[keep])
    return out


def ngram_distribution(seqs: list[np.ndarray], n: int) -> Counter:
    """Counts of unit n-grams over the sequences."""
    counts: Counter = Counter()
    for s in seqs:
        counts.update(tuple(s[i:i + n]) for i in range(len(s) - n + 1))
    return counts


def js_similarity(p: Counter, q: Counter) -> float:
    """``1 - JS(p, q)`` with the Jensen-Shannon divergence in bits: 1 for identical
    distributions, 0 for disjoint ones."""
    keys = sorted(set(p) | set(q))
    a = np.array([p.get(k, 0) for k in keys], dtype=np.float64)
    b = np.array([q.get(k, 0) for k in keys], dtype=np.float64)
    if a.sum() == 0 or b.sum() == 0:
        raise UserError("an empty unit distribution")
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float((x[nz] * np.log2(x[nz] / m[nz])).sum())

    return 1.0 - (kl(a) + kl(b)) / 2
