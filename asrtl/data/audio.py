"""Loading a cut's audio as 16 kHz mono, whatever the source rate and channel count."""

from __future__ import annotations

import numpy as np
from lhotse.cut import Cut

SAMPLE_RATE = 16000


def load_audio(cut: Cut, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The cut's samples, resampled to ``sample_rate`` and averaged over channels.

    Args:
        cut: a lhotse cut with a recording.

    Returns:
        float32 samples ``(T,)``.

    Raises:
        ValueError: when the audio cannot be read, naming the cut and its file.
    """
    rec = cut.recording
    if rec.sampling_rate != sample_rate:
        rec = rec.resample(sample_rate)
    try:
        audio = rec.load_audio(offset=cut.start, duration=cut.duration)
    except Exception as e:  # lhotse/soundfile raise many types on unreadable audio
        sources = ", ".join(s.source for s in cut.recording.sources)
        raise ValueError(f"cannot read audio of {cut.id!r} ({sources}): {e}") from e
    audio = np.asarray(audio, dtype=np.float32)
    return audio.mean(axis=0) if audio.ndim == 2 else audio
