"""LID posteriors over a cut set, and what the reference study makes of them: per-language scores
(posteriors averaged over frames), rankings of candidate sources, bootstrap confidence."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from lhotse import CutSet

from asrtl.data.loader import eval_batches, load_padded
from asrtl.errors import UserError
from asrtl.lid.model import LIDModel


@dataclass
class Posteriors:
    """LID posteriors of a set of utterances, summed over each one's frames.

    Attributes:
        languages: the classifier's classes ``[L]``.
        ids: cut ids ``[N]``.
        sums: ``(N, L)`` posteriors summed over each utterance's frames.
        frames: ``(N,)`` frames per utterance.
        embeddings: ``(N, C)`` the encoder's frame embeddings summed over each utterance.
    """

    languages: list[str]
    ids: list[str]
    sums: np.ndarray
    frames: np.ndarray
    embeddings: np.ndarray | None = None

    def mean_embedding(self) -> np.ndarray:
        """``(C,)`` the encoder's embedding averaged over all frames."""
        if self.embeddings is None:
            raise ValueError("these posteriors were computed without embeddings")
        return self.embeddings.sum(0) / max(self.frames.sum(), 1)

    def frame_mean(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``(L,)`` posterior averaged over all frames (of the utterances ``rows``)."""
        rows = slice(None) if rows is None else rows
        return self.sums[rows].sum(0) / max(self.frames[rows].sum(), 1)

    def utterance_mean(self) -> np.ndarray:
        """``(L,)`` per-utterance frame averages, averaged over utterances."""
        return (self.sums / self.frames[:, None]).mean(0)

    def predictions(self) -> np.ndarray:
        """``(N,)`` each utterance's language: the class of its highest frame average."""
        return (self.sums / self.frames[:, None]).argmax(1)


@torch.no_grad()
def posteriors(model: LIDModel, cuts: CutSet, device: torch.device,
               batch_duration_s: float = 120.0) -> Posteriors:
    """Runs ``model`` over ``cuts``.

    Raises:
        ValueError: ``cuts`` is empty, or a cut's audio cannot be read (naming it).
    """
    by_id = {c.id: c for c in cuts}
    if not by_id:
        raise UserError("no audio to score (0 utterances)")
    model.eval().to(device)
    ids, sums, frames, embs = [], [], [], []
    for batch in eval_batches(CutSet.from_cuts(by_id.values()), batch_duration_s):
        wavs, wav_lens = load_padded([by_id[i] for i in batch])
        emb, lens = model.embed(wavs.to(device), wav_lens.to(device))
        log_post = model.head(emb).log_softmax(-1)
        mask = (torch.arange(log_post.shape[1], device=device)[None] < lens[:, None])[..., None]
        sums.append((log_post.float().exp() * mask).sum(1).cpu().numpy())
        embs.append((emb.float() * mask).sum(1).cpu().numpy())
        frames.append(lens.cpu().numpy())
        ids.extend(batch)
    return Posteriors(list(model.cfg.languages), ids, np.concatenate(sums).astype(np.float64),
                      np.concatenate(frames).astype(np.float64),
                      np.concatenate(embs).astype(np.float64))


def rank_sources(post: Posteriors, exclude: Iterable[str] = ()) -> list[dict]:
    """Candidate sources, best first, by the frame-averaged posterior (the reference study's score);
    ``utterance_score`` is the utterance-averaged variant. ``exclude``: classes that are not
    candidates (the target itself, when the classifier knows it)."""
    frame, utt = post.frame_mean(), post.utterance_mean()
    skip = set(exclude)
    rows = [{"source": lang, "score": round(float(frame[i]), 6),
             "utterance_score": round(float(utt[i]), 6)}
            for i, lang in enumerate(post.languages) if lang not in skip]
    return sorted(rows, key=lambda r: (-r["score"], r["source"]))


def bootstrap_top(post: Posteriors, exclude: Iterable[str] = (), n: int = 1000,
                  seed: int = 0) -> dict[str, float]:
    """How often each candidate ranks first when the utterances are resampled with
    replacement ``n`` times (the ranking's confidence)."""
    keep = [i for i, lang in enumerate(post.languages) if lang not in set(exclude)]
    rng = np.random.default_rng(seed)
    wins = np.zeros(len(keep))
    for start in range(0, n, 100):  # chunks keep memory at 100 x N x L
        rows = rng.integers(0, len(post.ids), size=(min(100, n - start), len(post.ids)))
        means = post.sums[rows][..., keep].sum(1) / post.frames[rows].sum(1, keepdims=True)
        wins += np.bincount(means.argmax(1), minlength=len(keep))
    wins /= n
    return {post.languages[k]: round(float(w), 4) for k, w in zip(keep, wins, strict=True)}


def accuracy(post: Posteriors, language: str) -> float:
    """Share of utterances whose predicted language is ``language``."""
    return float((post.predictions() == post.languages.index(language)).mean())
