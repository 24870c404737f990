"""The Python API: load a trained checkpoint and transcribe audio files or arrays.

    >>> from asrtl import load_model
    >>> model = load_model("exp/pretrain/turkish")            # a run dir or a checkpoint dir
    >>> for r in model.transcribe(["a.wav", "b.flac"], decode="beam"):
    ...     print(r.text, r.words)                             # [(word, start_s, end_s), ...]

Audio goes through the data layer's own path (:func:`asrtl.data.audio.load_audio`: lhotse,
resampled to 16 kHz, channels averaged), is batched by duration like evaluation
(:func:`asrtl.data.loader.eval_batches`) and decoded by the same code as
``recipes/decode.py``, so a file gives here the text it gets there.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from lhotse import CutSet, Recording
from lhotse.cut import Cut

from asrtl.data.audio import soundfile_for, sphere_problem
from asrtl.data.loader import eval_batches, load_padded
from asrtl.data.manifest import data_cache_dir
from asrtl.data.phones import language_lexicon
from asrtl.data.vocab import Vocabulary
from asrtl.errors import MissingInput, UserError
from asrtl.eval.align import word_timestamps
from asrtl.eval.config import check_search
from asrtl.eval.decode import BeamDecoder, greedy, lexicon_words
from asrtl.models.ctc import CTCModel
from asrtl.models.encoder import SUBSAMPLING
from asrtl.models.factory import input_transform
from asrtl.models.ssl import Waveform
from asrtl.train.checkpoint import (
    CheckpointMeta,
    load_checkpoint,
    read_meta,
    resolve_checkpoint,
)
from asrtl.train.device import resolve_device

AudioInput = str | os.PathLike | np.ndarray | torch.Tensor
MAX_CHANNELS = 8


@dataclass
class Transcript:
    """What :meth:`ASRModel.transcribe` returns for one input.

    Attributes:
        text: the transcript, words separated by single spaces.
        words: ``[(word, start_s, end_s), ...]`` in order, times in seconds from the start
            of the audio (non-decreasing, within ``[0, duration_s]``).
        duration_s: the input's duration.
    """

    text: str
    words: list[tuple[str, float, float]] = field(default_factory=list)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"text", "duration_s", "words": [{"word", "start_s", "end_s"}]}``."""
        return {"text": self.text, "duration_s": round(self.duration_s, 3),
                "words": [{"word": w, "start_s": round(s, 3), "end_s": round(e, 3)}
                          for w, s, e in self.words]}


class ASRModel:
    """A loaded CTC model with its vocabulary and features, ready to transcribe.

    Build it with :func:`load_model`.

    Attributes:
        model: the acoustic model, in eval mode on ``device``.
        vocab: its vocabulary.
        language: the language it transcribes.
        path: the checkpoint directory it was loaded from.
        meta: the checkpoint's ``meta.json`` (None: the model's architecture and vocabulary).
        device: where it runs.
    """

    def __init__(self, model: CTCModel, vocab: Vocabulary, language: str, path: Path,
                 meta: CheckpointMeta | None, device: torch.device) -> None:
        self.model = model.to(device).eval()
        self.vocab = vocab
        self.language = language
        self.path = path
        self.meta = meta or CheckpointMeta.of(model, vocab)
        self.device = device
        self.fbank = input_transform(model.cfg, self.meta.features).to(device)
        self.frame_s = (model.cfg.samples_per_frame / Waveform.sample_rate
                        if model.cfg.raw_waveform
                        else SUBSAMPLING * self.fbank.hop / self.fbank.cfg.sample_rate)
        self._beams: dict[tuple, BeamDecoder] = {}

    def __repr__(self) -> str:
        return (f"ASRModel({self.language}, {self.model.cfg.name}, {self.path}, "
                f"device={self.device})")

    @torch.no_grad()
    def transcribe(self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None,
                   decode: str = "greedy", lexicon: str | Path | Iterable[str] | None = "train",
                   kenlm: str | Path | None = None, beam_size: int = 32,
                   batch_duration_s: float = 120.0) -> list[Transcript]:
        """Transcribes each input, with word timestamps.

        Args:
            audio: one input or a list of them. An input is an audio file's path (any rate and
                channel count lhotse reads), or samples: a float array or tensor ``(S,)``
                (mono), ``(C, S)`` or ``(S, C)`` (up to 8 channels, averaged).
            sample_rate: the samples' rate, needed for arrays (files carry their own).
                Audio at another rate than the model's 16 kHz is resampled as the data
                layer does.
            decode: ``greedy`` or ``beam`` (torchaudio's flashlight decoder).
            lexicon: beam search words: ``"train"`` (the checkpoint's training words, as
                ``recipes/decode.py`` by default), ``None`` or ``"none"`` (lexicon-free), a
                word-list file (one word per line) or the words themselves.
            kenlm: an ARPA or binary KenLM model for the beam search.
            beam_size: beam width.
            batch_duration_s: audio seconds per batch (inputs are sorted by duration).

        Returns:
            One :class:`Transcript` per input, in the inputs' order.

        Raises:
            FileNotFoundError: a missing audio file, lexicon or KenLM model, named.
            ValueError: unreadable audio, an empty or malformed array, an array without
                ``sample_rate``, a bad ``decode`` setting.
        """
        check_search(decode)
        if not batch_duration_s > 0:
            raise UserError(f"batch_duration_s must be positive, got {batch_duration_s}")
        items = list(audio) if isinstance(audio, (list, tuple)) else [audio]
        cuts = {c.id: c for c in (_cut(x, i, sample_rate) for i, x in enumerate(items))}
        decoder = self._beam(lexicon, kenlm, beam_size) if decode == "beam" else None
        done: dict[int, Transcript] = {}
        for ids in eval_batches(CutSet.from_cuts(cuts.values()), batch_duration_s):
            batch = [cuts[i] for i in ids]
            wavs, wav_lens = load_padded(batch)  # (B, S) at 16 kHz, (B,)
            feats, feat_lens = self.fbank(wavs.to(self.device), wav_lens.to(self.device))
            log_probs, out_lens = self.model(feats, feat_lens)  # (B, T', V), (B,)
            texts = (decoder(log_probs, out_lens) if decoder is not None
                     else greedy(log_probs, out_lens, self.vocab))
            for j, cut in enumerate(batch):
                words = word_timestamps(log_probs[j, : int(out_lens[j])], texts[j], self.vocab,
                                        self.frame_s, cut.duration,
                                        decoder.spell if decoder is not None else None)
                done[int(cut.id)] = Transcript(texts[j], words, cut.duration)
        return [done[i] for i in range(len(items))]

    def _beam(self, lexicon: str | Path | Iterable[str] | None, kenlm: str | Path | None,
              beam_size: int) -> BeamDecoder:
        """The beam decoder for these settings, built once (a large lexicon takes a while)."""
        if isinstance(lexicon, (str, Path)):
            key: Any = str(lexicon)
        else:
            key = None if lexicon is None else tuple(lexicon)
        cache_key = (key, None if kenlm is None else str(kenlm), beam_size)
        if cache_key not in self._beams:
            words = lexicon_words(key, self.meta.training_corpus(self.language))
            spell = None
            if words is not None and self.vocab.units == "phones":  # words by their phones
                spell = language_lexicon(self.language, words, data_cache_dir(self.meta.data)
                                         ).words
            self._beams[cache_key] = BeamDecoder(self.vocab, words, kenlm=cache_key[1],
                                                 beam_size=beam_size, spell=spell)
        return self._beams[cache_key]


def load_model(run_or_checkpoint: str | Path, device: str | torch.device | None = None,
               language: str | None = None) -> ASRModel:
    """Loads a trained model for transcription.

    Args:
        run_or_checkpoint: a run directory (its best checkpoint, else its latest) or a
            checkpoint directory (``checkpoints/step-NNNNNN``).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a ``torch.device``; ``None`` is
            ``auto`` (the GPU where there is one).
        language: for a multilingual checkpoint (``recipes/multilingual.py``), the language
            whose head decodes; required there. A monolingual checkpoint takes only its own.

    Returns:
        The model, in eval mode on ``device``.

    Raises:
        FileNotFoundError: no checkpoint at ``run_or_checkpoint`` (named).
        ValueError: a corrupt checkpoint, one of another kind (a LID model), a language
            that the checkpoint does not have, a bad ``device``.
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device or "auto")
    ckpt = resolve_checkpoint(run_or_checkpoint)
    meta = read_meta(ckpt)
    if meta.kind == "multilingual":
        from asrtl.multilingual.model import language_model, load_multilingual

        languages = list(meta.languages or [])
        if language not in languages:
            raise UserError(f"checkpoint {ckpt} is multilingual: give language= one of "
                            f"{', '.join(languages)}" + (f" (not {language!r})" if language
                                                         else ""))
        multi, meta, ckpt = load_multilingual(ckpt)
        return ASRModel(language_model(multi, language), multi.vocabs[language], language, ckpt,
                        meta, dev)
    loaded = load_checkpoint(ckpt)
    if language is not None and language != loaded.language:
        raise UserError(f"checkpoint {ckpt} transcribes {loaded.language!r}, not {language!r}")
    return ASRModel(loaded.model, loaded.vocab, loaded.language, loaded.path, loaded.meta, dev)


def _cut(item: AudioInput, index: int, sample_rate: int | None) -> Cut:
    """A lhotse cut of input ``index`` (its id: the index, zero-padded)."""
    rec_id = f"{index:08d}"
    if isinstance(item, (str, os.PathLike)):
        rec = _file_recording(Path(item).expanduser(), rec_id)
    elif isinstance(item, (np.ndarray, torch.Tensor)):
        rec = _array_recording(item, sample_rate, rec_id)
    else:
        raise UserError(f"input {index}: expected an audio file path or an array of samples, "
                        f"got {type(item).__name__}")
    return rec.to_cut()


def _file_recording(path: Path, rec_id: str) -> Recording:
    if not path.exists():
        raise MissingInput(f"audio file not found: {path}")
    if not path.is_file():
        raise UserError(f"not an audio file: {path}")
    problem = sphere_problem(path)  # shorten-compressed SPHERE without sph2pipe
    if problem:
        raise UserError(problem)
    try:
        with soundfile_for([path]):  # SPHERE without sph2pipe, as the data layer reads it
            rec = Recording.from_file(path, recording_id=rec_id)
    except Exception as e:  # lhotse and its backends raise many types for unreadable audio
        raise UserError(f"cannot read audio file {path}: not audio in a format lhotse reads "
                        f"({type(e).__name__})") from None
    if rec.num_samples <= 0:
        raise UserError(f"audio file {path} holds no samples")
    return rec


def _array_recording(samples: np.ndarray | torch.Tensor, sample_rate: int | None,
                     rec_id: str) -> Recording:
    """An in-memory recording (float WAV bytes) of ``samples``, so that arrays are read,
    resampled and down-mixed by exactly the code that reads files."""
    where = f"input {int(rec_id)}"
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    if sample_rate is None:
        raise UserError(f"{where} is an array of samples: give sample_rate= (samples per "
                        f"second; files carry their own)")
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate <= 0:
        raise UserError(f"sample_rate must be a positive whole number, got {sample_rate!r}")
    if not np.issubdtype(samples.dtype, np.floating):
        raise UserError(f"{where}: samples must be floats in [-1, 1], got dtype {samples.dtype}")
    if samples.size == 0:
        raise UserError(f"{where} is an empty array")
    if samples.ndim == 2:
        channels_first = samples.shape[0] <= MAX_CHANNELS < samples.shape[1]
        channels_last = samples.shape[1] <= MAX_CHANNELS < samples.shape[0]
        if not channels_first and not channels_last:
            raise UserError(f"{where}: ambiguous shape {samples.shape}: give (samples,), "
                            f"(channels, samples) or (samples, channels) with at most "
                            f"{MAX_CHANNELS} channels")
        samples = samples if channels_first else samples.T
    elif samples.ndim != 1:
        raise UserError(f"{where}: expected (samples,) or (channels, samples), got shape "
                        f"{samples.shape}")
    if not np.isfinite(samples).all():
        raise UserError(f"{where} holds NaN or infinite samples")
    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(samples.T, dtype=np.float32), int(sample_rate),
             format="WAV", subtype="FLOAT")
    return Recording.from_bytes(buf.getvalue(), recording_id=rec_id)
