"""Loading a cut's audio as 16 kHz mono, whatever the source rate, channel count or container.

NIST SPHERE (``.sph``): lhotse sends every ``.sph`` file to the ``sph2pipe`` binary, but
libsndfile reads PCM, µ-law and A-law SPHERE itself. asrtl therefore reads such files with
libsndfile (:func:`soundfile_for`) and needs sph2pipe only for shorten-compressed SPHERE
(:func:`sphere_problem` names the file and the way out when it is missing).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lhotse
import numpy as np
from lhotse.audio.backend import (
    LibsndfileBackend,
    get_current_audio_backend,
    set_current_audio_backend,
)
from lhotse.cut import Cut

from asrtl.errors import UserError

SAMPLE_RATE = 16000
_LHOTSE_DIR = os.path.dirname(os.path.abspath(lhotse.__file__)) + os.sep


class _LhotseRootInfo(logging.Filter):
    """Drops what lhotse logs below WARNING on the *root* logger (its modules call
    ``logging.info`` directly): ``Using audioread. Available backends: ...`` when a file is
    not audio (a zero-byte or fake ``.wav``) came before the one-line error of every recipe.
    lhotse's warnings and errors, and every record of a named logger (asrtl's), pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and record.levelno < logging.WARNING
                    and os.path.abspath(record.pathname).startswith(_LHOTSE_DIR))


def _quiet_lhotse_root_info() -> None:
    """Installs :class:`_LhotseRootInfo` on the root logger, once (logging configuration, as
    Hydra's per run, replaces handlers but keeps a logger's filters)."""
    root = logging.getLogger()
    if not any(isinstance(f, _LhotseRootInfo) for f in root.filters):
        root.addFilter(_LhotseRootInfo())


_quiet_lhotse_root_info()
_SPHERE_MAGIC = b"NIST_1A"
_MAX_HEADER_BYTES = 1 << 16


def sphere_coding(path: str | Path) -> str | None:
    """The ``sample_coding`` of a NIST SPHERE file, lower case (``pcm`` when the header has
    none, as SPHERE defines); ``None`` when the file is not SPHERE or cannot be opened.

    Args:
        path: any file.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
            if not head.startswith(_SPHERE_MAGIC):
                return None
            lines = head.split(b"\n", 2)
            size = int(lines[1]) if len(lines) > 2 and lines[1].strip().isdigit() else 1024
            head += f.read(max(0, min(size, _MAX_HEADER_BYTES) - len(head)))
    except OSError:
        return None
    for line in head.decode("latin-1").splitlines()[2:]:
        field, _, rest = line.strip().partition(" ")
        if field == "end_head":
            break
        if field == "sample_coding":
            _, _, value = rest.strip().partition(" ")  # "-s26 pcm,embedded-shorten-v2.00"
            return value.strip().lower() or "pcm"
    return "pcm"


def _compressed(coding: str) -> bool:
    return any(part.startswith("embedded-") or "shorten" in part or "wavpack" in part
               for part in coding.split(","))


def sphere_problem(path: str | Path) -> str | None:
    """Why ``path``, a compressed NIST SPHERE file, cannot be read here; ``None`` for any
    other file (not SPHERE, PCM/µ-law/A-law SPHERE, or shorten with sph2pipe on PATH).

    Args:
        path: any file.

    Returns:
        One line naming the file and what to do, or ``None``.
    """
    coding = sphere_coding(path)
    if coding is None or not _compressed(coding):
        return None
    if "shorten" in coding:
        if shutil.which("sph2pipe"):
            return None
        return (f"{path} is shorten-compressed NIST SPHERE ({coding}), which only sph2pipe "
                f"decodes: install sph2pipe and put it on PATH (`lhotse install-sph2pipe` "
                f"fetches it), or convert with `sph2pipe -f wav in.sph out.wav`")
    return (f"{path} is compressed NIST SPHERE ({coding}), which asrtl cannot decode: convert "
            f"it to WAV with NIST's SPHERE tools (w_decode) first")


def _read_by_soundfile(path: str | Path) -> bool:
    """A ``.sph`` file that libsndfile reads itself (anything but compressed SPHERE)."""
    if not str(path).lower().endswith(".sph"):
        return False
    coding = sphere_coding(path)
    return coding is None or not _compressed(coding)


@contextmanager
def soundfile_for(paths: Iterable[str | Path]) -> Iterator[None]:
    """Within the block lhotse reads audio with libsndfile, when ``paths`` hold ``.sph`` files
    and none is compressed (lhotse's default would call sph2pipe on every ``.sph``); otherwise
    lhotse's own backends, which use sph2pipe for shorten.

    Args:
        paths: the audio files about to be read.
    """
    sph = [p for p in paths if str(p).lower().endswith(".sph")]
    if not sph or not all(_read_by_soundfile(p) for p in sph):
        yield
        return
    previous = get_current_audio_backend()
    set_current_audio_backend(LibsndfileBackend())
    try:
        yield
    finally:
        set_current_audio_backend(previous)


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (lhotse's span several), at most ``limit`` chars."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


log = logging.getLogger(__name__)
_RESAMPLED: set[tuple[int, int]] = set()


def load_audio(cut: Cut, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The cut's samples, resampled to ``sample_rate`` and averaged over channels.

    Args:
        cut: a lhotse cut with a recording (WAV, FLAC, SPHERE, ... at any rate).

    Returns:
        float32 samples ``(T,)``.

    Raises:
        ValueError: when the audio cannot be read, in one line naming the cut and its file
            (and, for shorten-compressed SPHERE without sph2pipe, how to read it).
    """
    rec = cut.recording
    files = [s.source for s in rec.sources if s.type == "file"]
    if rec.sampling_rate != sample_rate:
        if (rec.sampling_rate, sample_rate) not in _RESAMPLED:  # once per rate and process
            _RESAMPLED.add((rec.sampling_rate, sample_rate))
            log.info("audio at %d Hz resampled to the models' %d Hz (first: %s)",
                     rec.sampling_rate, sample_rate, cut.recording.id)
        rec = rec.resample(sample_rate)
    try:
        with soundfile_for(files):
            audio = rec.load_audio(offset=cut.start, duration=cut.duration)
    except Exception as e:  # lhotse/soundfile raise many types on unreadable audio
        sources = ", ".join(s.source if isinstance(s.source, str) else f"<{s.type}>"
                            for s in cut.recording.sources)
        reason = next((p for p in map(sphere_problem, files) if p), None) or one_line(e)
        raise UserError(f"cannot read audio of {cut.id!r} ({sources}): {reason}") from e
    audio = np.asarray(audio, dtype=np.float32)
    return audio.mean(axis=0) if audio.ndim == 2 else audio
