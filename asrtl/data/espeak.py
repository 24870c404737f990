"""In-process eSpeak NG synthesis through ctypes (library and data from ``espeakng-loader``).

eSpeak NG is not thread-safe: one :class:`Espeak` per process, calls serialised by a lock.
Parallel synthesis uses worker *processes* (see :mod:`asrtl.data.embedded`).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asrtl.errors import MissingInput, UserError

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
POS_CHARACTER = 1
# espeak_PARAMETER
RATE, VOLUME, PITCH, RANGE, WORDGAP = 1, 2, 3, 4, 7

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


@dataclass(frozen=True)
class Prosody:
    """eSpeak prosody settings for one utterance.

    Attributes:
        rate_wpm: speaking rate in words per minute (80-450).
        pitch: base pitch, 0-100 (50 is the voice's default).
        pitch_range: pitch range, 0-100 (0 is monotone).
        word_gap_10ms: pause added between words, in units of 10 ms.
    """

    rate_wpm: int = 175
    pitch: int = 50
    pitch_range: int = 50
    word_gap_10ms: int = 0


def espeak_paths() -> tuple[str, str]:
    """Returns ``(library_path, data_path)`` of the ``espeakng-loader`` wheel.

    Raises:
        RuntimeError: when the ``embedded`` extra (espeakng-loader) is not installed.
    """
    try:
        import espeakng_loader
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the embedded corpus needs eSpeak NG: pip install 'asrtl[embedded]' "
            "(espeakng-loader)") from e
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class Espeak:
    """One eSpeak NG engine in this process.

    Args:
        data_path: an ``espeak-ng-data`` directory; the wheel's own by default.
    """

    _lock = threading.Lock()
    _instance: Espeak | None = None

    def __init__(self, data_path: str | None = None) -> None:
        lib_path, default_data = espeak_paths()
        self.data_path = data_path or default_data
        if not Path(self.data_path, "phontab").is_file():
            raise MissingInput(f"not an espeak-ng-data directory: {self.data_path}")
        self._lib = ctypes.CDLL(lib_path)
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p,
                                     ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                              ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        # DONT_EXIT: a bad data path must return an error, not call exit(1).
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(),
                                     INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError(f"eSpeak NG failed to initialise with data {self.data_path}")
        self.sample_rate: int = rate
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._on_samples)  # keep a reference alive
        lib.espeak_SetSynthCallback(self._callback)
        self._voice: str | None = None

    @classmethod
    def get(cls) -> Espeak:
        """The engine of this process, created on first use."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _on_samples(self, wav, numsamples, events) -> int:  # noqa: ARG002
        if numsamples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0

    def set_voice(self, voice: str) -> None:
        """Selects ``voice`` such as ``"bn"`` or ``"bn+f3"`` (language + variant).

        Raises:
            ValueError: when eSpeak does not know the voice.
        """
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise UserError(f"eSpeak NG has no voice {voice!r}")
            self._voice = voice

    def synthesize(self, text: str, voice: str, prosody: Prosody = Prosody()) -> np.ndarray:
        """Synthesises ``text``.

        Args:
            text: UTF-8 text in the voice's language.
            voice: eSpeak voice name, e.g. ``"tr+m3"``.
            prosody: rate, pitch, range and word gap.

        Returns:
            int16 samples ``(T,)`` at :attr:`sample_rate`.
        """
        with self._lock:
            self.set_voice(voice)
            lib = self._lib
            lib.espeak_SetParameter(RATE, int(prosody.rate_wpm), 0)
            lib.espeak_SetParameter(PITCH, int(prosody.pitch), 0)
            lib.espeak_SetParameter(RANGE, int(prosody.pitch_range), 0)
            lib.espeak_SetParameter(WORDGAP, int(prosody.word_gap_10ms), 0)
            data = text.encode("utf-8")
            self._chunks = []
            err = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None,
                                   None)
            lib.espeak_Synchronize()
            if err != 0:
                raise RuntimeError(f"eSpeak NG failed (error {err}) on {text!r}")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def phonemes(self, text: str, voice: str, mode: int = 0) -> str:
        """eSpeak's phoneme string for ``text`` (``mode`` 0: ASCII mnemonics; its
        ``phonememode`` bits otherwise, e.g. IPA and a separator; ``(en)`` marks a switch)."""
        with self._lock:
            self.set_voice(voice)
            buf = ctypes.c_char_p(text.encode("utf-8"))
            ptr = ctypes.pointer(buf)
            out = []
            while ptr.contents.value:
                res = self._lib.espeak_TextToPhonemes(ptr, CHARS_UTF8, mode)
                if res is None:
                    break
                out.append(res.decode("utf-8", "replace"))
        return " ".join(out)


def spells_out(phonemes: str) -> bool:
    """True when eSpeak switched language (it reads the word letter by letter), e.g. ``(en)``."""
    return "(" in phonemes
