"""Audio that libsndfile cannot read (WebM/Opus, Matroska, raw GSM, MP3 before libsndfile
1.1, ...) decoded with FFmpeg's libraries through PyAV and stored as 16 kHz mono FLAC, which
every later step reads with libsndfile. Importers convert at import time, into the corpus
cache (the source files are never changed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from asrtl.errors import UserError

RATE = 16000  # the rate converted audio is stored at (the models' rate)
# formats FFmpeg cannot probe from the bytes alone: raw GSM 06.10 (Asterisk's .gsm prompts)
_FORMATS = {".gsm": "gsm"}


def soundfile_reads(path: Path) -> bool:
    """Whether libsndfile (``soundfile``) opens ``path``."""
    try:
        sf.info(str(path))
        return True
    except (RuntimeError, sf.LibsndfileError, OSError):
        return False


def decode_ffmpeg(path: Path, rate: int = RATE) -> np.ndarray:
    """The samples of ``path``, decoded by FFmpeg (PyAV), resampled to ``rate``, mono.

    Returns:
        float32 samples ``(T,)``.

    Raises:
        UserError: PyAV missing, or FFmpeg cannot decode the file (naming it and the decoder).
    """
    try:
        import av
    except ImportError:
        raise UserError(f"{path}: libsndfile cannot read it and PyAV (FFmpeg) is not "
                        f"installed: pip install av, or convert it to WAV/FLAC first") from None
    fmt = _FORMATS.get(path.suffix.lower())
    try:
        with av.open(str(path), format=fmt) as container:
            if not container.streams.audio:
                raise UserError(f"{path}: no audio stream (FFmpeg via PyAV)")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [frame.to_ndarray().reshape(-1)
                      for packet in container.demux(audio=0)
                      for decoded in packet.decode()
                      for frame in resampler.resample(decoded)]
            chunks += [frame.to_ndarray().reshape(-1) for frame in resampler.resample(None)]
    except UserError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as e:
        raise UserError(f"{path}: cannot decode with FFmpeg (PyAV "
                        f"{getattr(av, '__version__', '?')}): {e}") from None
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def to_flac(src: Path, dst: Path, rate: int = RATE) -> Path:
    """Decodes ``src`` (:func:`decode_ffmpeg`) into the FLAC file ``dst`` (16-bit, ``rate``,
    mono), written atomically; an existing ``dst`` is kept (a rerun converts nothing twice).

    Raises:
        UserError: ``src`` cannot be decoded.
    """
    if dst.is_file():
        return dst
    audio = decode_ffmpeg(src, rate)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.flac")
    sf.write(str(tmp), np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16", format="FLAC")
    os.replace(tmp, dst)
    return dst
