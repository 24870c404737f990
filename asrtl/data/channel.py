"""Simulated acoustic channels for the embedded corpus: a reverberant room and an 8 kHz
telephone line.

numpy, soxr and (for the telephone band filter only) scipy: no torch and no lhotse, so the
synthesis workers that call these stay light. lhotse's ``FastRandomRIRGenerator`` is not
used: it draws RT60 itself (from ``(0.1, max_T60)``, not a requested range), needs torch in
every worker, and draws from torch's global generator, so its seeds do not fix its output.
The µ-law codec is the formula of ``torchaudio.functional.mu_law_encoding``/``decoding``,
which the tests check sample for sample.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from asrtl.errors import UserError

TELEPHONE_RATE = 8000
TELEPHONE_BAND_HZ = (300.0, 3400.0)
MU_LAW_CHANNELS = 256
_LN_1000 = 3 * math.log(10)  # amplitude falls by 60 dB (x 1e-3) in one RT60


def room_impulse_response(rt60_s: float, sample_rate: int, drr_db: float,
                          rng: np.random.Generator) -> np.ndarray:
    """A simulated room impulse response: a direct path followed by exponentially decaying
    Gaussian noise (Polack's statistical model of diffuse reverberation).

    The direct path is sample 0 (the response is causal and adds no delay); the tail ends
    where its level has fallen by 60 dB. The response has unit energy, so convolving keeps
    the signal's energy about the same.

    Args:
        rt60_s: reverberation time in seconds (> 0): the time the tail takes to decay 60 dB.
        sample_rate: in Hz.
        drr_db: direct-to-reverberant energy ratio in dB.
        rng: the source of the tail's noise (the response is a function of its state).

    Returns:
        float32 ``(L,)`` with ``L = round(rt60_s * sample_rate) + 1``.

    Raises:
        ValueError: for a non-positive ``rt60_s`` or ``sample_rate``.
    """
    if not rt60_s > 0 or sample_rate <= 0:
        raise UserError(f"need rt60_s > 0 and sample_rate > 0, got {rt60_s}, {sample_rate}")
    n = round(rt60_s * sample_rate) + 1
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-_LN_1000 * t / rt60_s)
    tail[0] = 0.0
    tail_energy = float(np.sum(tail**2)) or 1.0
    rir = tail * math.sqrt(10 ** (-drr_db / 10) / tail_energy)
    rir[0] = 1.0
    rir /= math.sqrt(float(np.sum(rir**2)))
    return rir.astype(np.float32)


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolves ``audio`` with ``rir`` (FFT, full length: the reverberant tail is kept).

    Args:
        audio: float32 ``(T,)``.
        rir: float32 ``(L,)``, e.g. from :func:`room_impulse_response`.

    Returns:
        float32 ``(T + L - 1,)``; not peak-limited (the caller's last step is).
    """
    if audio.size == 0:
        return audio.astype(np.float32)
    n = audio.size + rir.size - 1
    size = 1 << (n - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(rir, size), size)[:n]
    return out.astype(np.float32)


def mu_law_encode(audio: np.ndarray, channels: int = MU_LAW_CHANNELS) -> np.ndarray:
    """µ-law companding and quantisation, as ``torchaudio.functional.mu_law_encoding``.

    Args:
        audio: float ``(T,)`` in [-1, 1].
        channels: quantisation levels (256: 8 bits).

    Returns:
        int64 ``(T,)`` codes in ``[0, channels - 1]``.
    """
    mu = channels - 1.0
    x = np.sign(audio) * np.log1p(mu * np.abs(audio)) / math.log1p(mu)
    return ((x + 1) / 2 * mu + 0.5).astype(np.int64)


def mu_law_decode(codes: np.ndarray, channels: int = MU_LAW_CHANNELS) -> np.ndarray:
    """Inverse of :func:`mu_law_encode`, as ``torchaudio.functional.mu_law_decoding``.

    Args:
        codes: integer ``(T,)`` in ``[0, channels - 1]``.
        channels: quantisation levels.

    Returns:
        float32 ``(T,)`` in [-1, 1].
    """
    mu = channels - 1.0
    x = codes / mu * 2 - 1.0
    return (np.sign(x) * np.expm1(np.abs(x) * math.log1p(mu)) / mu).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _band_filter(sample_rate: int) -> np.ndarray:
    from scipy.signal import ellip

    # 0.5 dB ripple in 300-3400 Hz, 50 dB stop band: -17 dB at 3.6 kHz and -50 dB at 4 kHz
    # (a G.712 PCM channel must attenuate 4 kHz by at least 14 dB).
    return ellip(6, 0.5, 50, TELEPHONE_BAND_HZ, btype="bandpass", fs=sample_rate, output="sos")


def telephone_channel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A narrowband telephone line: band-limit to 300-3400 Hz (causal 12th-order elliptic
    band-pass), resample to 8 kHz, and µ-law code at 8 bits (G.711-like; the companding
    formula, not G.711's segment tables).

    Args:
        audio: float32 ``(T,)`` at ``sample_rate``, in [-1, 1].
        sample_rate: in Hz, at least 8000.

    Returns:
        float32 ``(T',)`` at :data:`TELEPHONE_RATE` (8 kHz), peak below 1.

    Raises:
        ValueError: when ``sample_rate`` is below 8 kHz.
    """
    import soxr
    from scipy.signal import sosfilt

    if sample_rate < TELEPHONE_RATE:
        raise UserError(f"telephone channel needs audio at >= {TELEPHONE_RATE} Hz, got "
                        f"{sample_rate} Hz")
    if audio.size == 0:
        return np.zeros(0, np.float32)
    x = sosfilt(_band_filter(sample_rate), audio.astype(np.float64))
    if sample_rate != TELEPHONE_RATE:
        x = soxr.resample(x, sample_rate, TELEPHONE_RATE)
    peak = float(np.abs(x).max())
    if peak > 0.99:  # µ-law codes only [-1, 1]
        x *= 0.99 / peak
    return mu_law_decode(mu_law_encode(x))
