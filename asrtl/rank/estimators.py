"""Model-based transferability estimators over frames: LogME and LEEP, with frame labels
from a flat-start alignment of the target transcript.

Frame labels: a CTC source model knows nothing of the target's graphemes, so aligning the
target's transcripts with each source would make the labels (and the estimate) depend on
how much of the target's script the source happens to share. The labels here are the same
for every source and need no model: as Kaldi's ``align-equal`` flat start, tokens are
spread evenly over frames, here over the loud frames of the audio (quiet frames are word
boundaries). They are noisy, equally so for every
candidate, and they never read the target's test split.
"""

from __future__ import annotations

import numpy as np


def equal_alignment(tokens: list[int], frames: int) -> np.ndarray:
    """``(frames,)`` labels: token ``i`` of ``L`` covers frames ``[i T / L, (i + 1) T / L)``.

    Raises:
        ValueError: no tokens or no frames.
    """
    if not tokens or frames < 1:
        raise ValueError(f"equal alignment needs tokens and frames, got {len(tokens)} tokens "
                         f"and {frames} frames")
    idx = (np.arange(frames) * len(tokens)) // frames
    return np.asarray(tokens, dtype=np.int64)[idx]


def frame_energy_db(wav: np.ndarray, frames: int, hop: int) -> np.ndarray:
    """``(frames,)`` log energy (dB) of consecutive ``hop``-sample windows of ``wav``,
    the last one repeated where the audio is shorter than ``frames`` windows."""
    n = min(frames, max(1, len(wav) // hop))
    chunks = wav[:n * hop].reshape(n, -1) if len(wav) >= hop else wav[None]
    e = 10 * np.log10((chunks.astype(np.float64) ** 2).mean(1) + 1e-10)
    return np.pad(e, (0, frames - len(e)), mode="edge")


def speech_runs(energy_db: np.ndarray, min_gap: int = 2) -> list[tuple[int, int]]:
    """``[(start, end)]`` runs of frames above the midpoint between the utterance's quiet
    (10th percentile) and loud (90th) energy; gaps shorter than ``min_gap`` frames are
    bridged."""
    lo, hi = np.percentile(energy_db, [10, 90])
    loud = energy_db > (lo + hi) / 2
    runs: list[list[int]] = []
    for t in np.flatnonzero(loud):
        if runs and t - runs[-1][1] <= min_gap:
            runs[-1][1] = t + 1
        else:
            runs.append([t, t + 1])
    return [(a, b) for a, b in runs]


def segment_alignment(tokens: list[int], energy_db: np.ndarray, space: int) -> np.ndarray:
    """Flat-start labels that respect pauses: quiet frames take ``space`` (the word
    boundary), the other tokens spread evenly over the loud frames in order.

    Args:
        tokens: the transcript's token ids, words separated by ``space``.
        energy_db: ``(T,)`` per output frame (:func:`frame_energy_db`).
    """
    letters = [t for t in tokens if t != space]
    runs = speech_runs(energy_db)
    if not runs or not letters:
        return equal_alignment(tokens, len(energy_db))
    labels = np.full(len(energy_db), space, dtype=np.int64)
    loud = np.concatenate([np.arange(a, b) for a, b in runs])
    labels[loud] = equal_alignment(letters, len(loud))
    return labels


def _class_evidence(y: np.ndarray, f: np.ndarray, u: np.ndarray, s: np.ndarray,
                    n: int, d: int, iterations: int = 11) -> float:
    """LogME's maximised log evidence per sample of one target column ``y`` ``(N,)``
    (You et al., 2021, Algorithm 1: fixed-point updates of alpha and beta)."""
    alpha, beta = 1.0, 1.0
    proj = u.T @ (f.T @ y)  # (D,)
    for _ in range(iterations):
        gamma = float((beta * s / (alpha + beta * s)).sum())
        m = u @ (beta * proj / (alpha + beta * s))
        alpha_de = float(m @ m)
        beta_de = float(((y - f @ m) ** 2).sum())
        new_alpha, new_beta = gamma / max(alpha_de, 1e-12), (n - gamma) / max(beta_de, 1e-12)
        converged = abs(new_alpha / new_beta - alpha / beta) / (alpha / beta) < 1e-2
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    evidence = (d / 2 * np.log(alpha) + n / 2 * np.log(beta)
                - 0.5 * np.log(alpha + beta * s).sum() - beta / 2 * beta_de
                - alpha / 2 * alpha_de - n / 2 * np.log(2 * np.pi))
    return float(evidence / n)


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME (You et al., ICML 2021): the mean over classes of the maximised marginal
    log-likelihood per sample of a Bayesian linear model from ``features`` to each class's
    one-hot column. Higher: the features separate the labels better.

    Args:
        features: ``(N, D)`` frame features of one source model over the target's audio.
        labels: ``(N,)`` class ids.
    """
    if len(features) != len(labels) or len(features) < 2:
        raise ValueError(f"LogME needs as many labels as feature rows (>= 2), got "
                         f"{len(labels)} and {len(features)}")
    f = features.astype(np.float64)
    n, d = f.shape
    s, u = np.linalg.eigh(f.T @ f)  # f^T f = u diag(s) u^T
    s = np.clip(s, 0, None)
    return float(np.mean([_class_evidence((labels == c).astype(np.float64), f, u, s, n, d)
                          for c in np.unique(labels)]))


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP (Nguyen et al., ICML 2020): the mean log-likelihood of the target labels under the
    source model's outputs mapped through the empirical conditional ``P(y | z)``.

    Args:
        source_probs: ``(N, Z)`` the source head's posterior over its own tokens, per frame.
        labels: ``(N,)`` target class ids.
    """
    if len(source_probs) != len(labels) or not len(labels):
        raise ValueError(f"LEEP needs as many labels as posterior rows, got {len(labels)} "
                         f"and {len(source_probs)}")
    classes, y = np.unique(labels, return_inverse=True)
    joint = np.zeros((len(classes), source_probs.shape[1]))
    np.add.at(joint, y, source_probs)
    joint /= len(labels)
    cond = joint / joint.sum(0, keepdims=True).clip(min=1e-12)  # P(y | z)
    eep = (source_probs * cond[y]).sum(1)
    return float(np.log(eep.clip(min=1e-12)).mean())
