"""Worker side of embedded-corpus synthesis: light imports only (no lhotse, no torch), so
that spawned worker processes start fast. One :class:`SynthPool` serves a whole corpus build.

Each utterance goes eSpeak -> speed (resampling to ``sample_rate``) -> room reverberation ->
additive noise -> peak limit -> telephone channel (8 kHz µ-law), each step optional.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asrtl.data.channel import (
    TELEPHONE_RATE,
    reverberate,
    room_impulse_response,
    telephone_channel,
)
from asrtl.data.espeak import Espeak, Prosody
from asrtl.data.speakers import Speaker


@dataclass(frozen=True)
class UttSpec:
    """Everything needed to synthesise one utterance.

    Attributes:
        speed: speed perturbation factor.
        snr_db: additive white noise SNR, or ``None`` for none.
        rt60_s: reverberation time of the simulated room, or ``None`` for dry speech.
        drr_db: the room's direct-to-reverberant ratio (with ``rt60_s``).
        rir_seed: seed of the room impulse response's noise (with ``rt60_s``).
    """

    id: str
    split: str
    text: str
    speaker: Speaker
    prosody: Prosody
    speed: float = 1.0
    snr_db: float | None = None
    rt60_s: float | None = None
    drr_db: float = 0.0
    rir_seed: int = 0


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_writing: Path | None = None  # the temporary file this worker is writing, if any


def _end_quietly(*_: object) -> None:
    """A worker's SIGTERM: remove the file it was writing, exit at once (no traceback)."""
    if _writing is not None:
        with contextlib.suppress(OSError):
            _writing.unlink()
    os._exit(0)


def _worker_init(parent: int) -> None:
    """Pool initializer. A worker ends quietly when its parent (``parent``, the process
    building the corpus) dies, by ``kill -9`` too: the kernel sends it SIGTERM on Linux
    (``PR_SET_PDEATHSIG``), elsewhere a thread watches the parent. Without it, orphaned workers
    printed ``BrokenPipeError`` tracebacks when they sent their next result."""
    # Two workers on two cores collapse when numpy/BLAS spawn their own threads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    signal.signal(signal.SIGTERM, _end_quietly)  # Pool.terminate() and the parent's death
    try:
        if not sys.platform.startswith("linux"):
            raise OSError("no prctl")
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before this worker got here
        _end_quietly()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def output_rate(sample_rate: int, telephone: bool) -> int:
    """The rate of the stored audio: 8 kHz through the telephone channel, else ``sample_rate``."""
    return TELEPHONE_RATE if telephone else sample_rate


def synthesize_utterance(spec: UttSpec, voice: str, sample_rate: int,
                         telephone: bool = False) -> np.ndarray:
    """Synthesises ``spec``.

    Args:
        spec: the utterance and its augmentation.
        voice: eSpeak voice of the language (``bn``).
        sample_rate: rate of the speech and of every step before the telephone channel.
        telephone: pass the result through :func:`~asrtl.data.channel.telephone_channel`.

    Returns:
        float32 samples ``(T,)`` at ``output_rate(sample_rate, telephone)``, peak below 1.
    """
    import soxr

    engine = Espeak.get()
    variant_voice = f"{voice}+{spec.speaker.variant}"
    pcm = engine.synthesize(spec.text, variant_voice, spec.prosody)
    audio = pcm.astype(np.float32) / 32768.0
    # Speed perturbation as in Kaldi: resample by the factor, tempo and pitch move together.
    in_rate = engine.sample_rate * spec.speed
    audio = soxr.resample(audio, in_rate, sample_rate).astype(np.float32)
    if spec.rt60_s is not None and audio.size:
        rir = room_impulse_response(spec.rt60_s, sample_rate, spec.drr_db,
                                    np.random.default_rng(spec.rir_seed))
        audio = reverberate(audio, rir)
    if spec.snr_db is not None and audio.size:
        seed = int(hashlib.sha1(spec.id.encode()).hexdigest()[:8], 16)
        noise = np.random.default_rng(seed).standard_normal(audio.size).astype(np.float32)
        power = float(np.mean(audio**2)) or 1e-10
        audio += noise * math.sqrt(power / 10 ** (spec.snr_db / 10))
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak > 0.99:
        audio *= 0.99 / peak
    if telephone:
        audio = telephone_channel(audio, sample_rate)
    return audio


def _synth_job(job: tuple[list[UttSpec], str, int, str, bool]) -> list[tuple[str, int, bool]]:
    """Worker: synthesise a batch, writing each FLAC atomically.

    Returns:
        ``[(utt_id, num_samples, freshly_synthesised)]``; 0 samples marks a dropped utterance.
    """
    import soundfile as sf

    global _writing
    specs, voice, sample_rate, audio_dir, telephone = job
    rate = output_rate(sample_rate, telephone)
    out = []
    for spec in specs:
        path = Path(audio_dir) / f"{spec.id}.flac"
        if path.is_file():
            out.append((spec.id, sf.info(str(path)).frames, False))
            continue
        audio = synthesize_utterance(spec, voice, sample_rate, telephone)
        if audio.size < rate // 10:  # < 0.1 s: eSpeak said nothing useful
            out.append((spec.id, 0, True))
            continue
        tmp = _writing = path.with_name(f".{spec.id}.{os.getpid()}.tmp.flac")
        sf.write(str(tmp), audio, rate, subtype="PCM_16", format="FLAC")
        os.replace(tmp, path)
        _writing = None
        out.append((spec.id, audio.size, True))
    return out



def _quiet_resource_tracker() -> None:
    """Starts multiprocessing's resource tracker, unless it runs already, without its
    ``There appear to be N leaked semaphore objects`` warning: after a ``kill -9`` of this
    process it still removes the pool's semaphores, in silence."""
    from multiprocessing import resource_tracker

    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(
        w for w in (saved, "ignore:resource_tracker:UserWarning") if w)
    try:
        resource_tracker.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = saved


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Spawned workers re-import the parent's ``__main__`` (a recipe importing lhotse and
    torch: seconds per worker). Hide it while the workers start: they need only this module."""
    main = sys.modules["__main__"]
    saved = {k: getattr(main, k) for k in ("__spec__", "__file__") if hasattr(main, k)}
    try:
        main.__spec__ = None
        if hasattr(main, "__file__"):
            del main.__file__
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


class SynthPool:
    """Synthesis in ``workers`` spawned processes (eSpeak NG is not thread-safe), or in this
    process when ``workers == 1``. Use as a context manager; the pool lives for one build.
    Files are written at ``output_rate(sample_rate, telephone)``."""

    def __init__(self, workers: int, voice: str, sample_rate: int, audio_dir: Path,
                 telephone: bool = False) -> None:
        self.voice, self.sample_rate, self.audio_dir = voice, sample_rate, str(audio_dir)
        self.telephone = telephone
        self.fresh_samples = 0
        self._pool = None
        if workers > 1:
            _quiet_resource_tracker()
            with _main_module_hidden():
                self._pool = mp.get_context("spawn").Pool(workers, initializer=_worker_init,
                                                          initargs=(os.getpid(),))

    def __enter__(self) -> SynthPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate() if exc[0] else self._pool.close()
            self._pool.join()

    def run(self, specs: list[UttSpec], desc: str) -> dict[str, int]:
        """Synthesises ``specs`` (skipping cached files).

        Returns:
            ``{utt_id: num_samples}``; 0 marks an utterance eSpeak could not say.
        """
        from tqdm.auto import tqdm

        batch = 16
        jobs = [(specs[i:i + batch], self.voice, self.sample_rate, self.audio_dir,
                 self.telephone) for i in range(0, len(specs), batch)]
        results: Iterator = (self._pool.imap(_synth_job, jobs) if self._pool is not None
                             else map(_synth_job, jobs))
        done: dict[str, int] = {}
        with tqdm(total=len(specs), desc=desc, unit="utt", leave=False, disable=None) as bar:
            for res in results:
                for utt_id, n, new in res:
                    done[utt_id] = n
                    self.fresh_samples += n if new else 0
                bar.update(len(res))
        return done
