"""The embedded corpus: CLDR text in each language's script, spoken by eSpeak NG speakers.

Layout of the cache (``<cache_dir>/embedded/<language>/<key>/``, ``key`` hashing every
generation parameter except the amount of training audio):

- ``words.json``: usable words, the test-only share, and words eSpeak spelled out (dropped);
- ``audio/<utt-id>.flac``: 16 kHz mono audio (8 kHz through the telephone channel: the data
  layer resamples on loading), one file per utterance, each written atomically.
  The training stream is a fixed sequence, so ``hours=0.1`` is a prefix of ``hours=0.6``
  and a larger budget reuses the audio of a smaller one;
- ``corpus-<hours>h/``: lhotse manifests per split (``{split}_{recordings,supervisions,cuts}
  .jsonl.gz``) and ``summary.json``, written to a temporary directory and renamed, so a killed
  run never leaves a manifest that a later run trusts.

Dev, test and adapt splits do not depend on ``hours``: budgets are compared on one test set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from asrtl.data.channel import TELEPHONE_RATE
from asrtl.data.espeak import Espeak, spells_out
from asrtl.data.languages import Language, get_language
from asrtl.data.speakers import Speaker, speaker_pool
from asrtl.data.store import SPLITS, write_manifests
from asrtl.data.synth import SynthPool, UttSpec, output_rate
from asrtl.data.text import cldr_words
from asrtl.errors import UserError
from asrtl.io import write_json_atomic

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DRR_DB = (0.0, 10.0)  # direct-to-reverberant ratio of the simulated rooms
_CHANNEL_KEYS = ("reverb", "rt60", "telephone")  # keyed only when on (see EmbeddedConfig.key)


@dataclass(frozen=True)
class EmbeddedConfig:
    """Generation parameters of the embedded corpus (all but ``hours``/``workers`` keyed).

    Attributes:
        hours: training audio per language, in hours.
        seed: seed of text, speakers and prosody.
        dev_utts, test_utts: size of the dev and test splits (independent of ``hours``).
        hard_speakers, adapt_utts: the speaker-adaptation pool and utterances per speaker.
        min_words, max_words: utterance length in words.
        test_only_words: share of words that appear only in dev/test (for OOV measurement).
        speakers_per_variant, dev_variants, test_variants: the speaker set.
        noise_snr_db: ``[low, high]`` additive white noise SNR per utterance, or ``None``.
        speed: ``[low, high]`` speed perturbation factor per utterance, or ``None``.
        reverb: probability that an utterance is spoken in a simulated room (0: never).
        rt60: ``[low, high]`` reverberation time of those rooms, in seconds.
        telephone: pass every utterance through an 8 kHz µ-law telephone channel; the audio
            is then stored at 8 kHz (see :attr:`audio_rate`).
        workers: synthesis processes.
        sample_rate: rate of synthesis and output (eSpeak's 22.05 kHz is resampled).
    """

    hours: float = 0.5
    seed: int = 0
    dev_utts: int = 120
    test_utts: int = 240
    hard_speakers: int = 8
    adapt_utts: int = 20
    min_words: int = 2
    max_words: int = 8
    test_only_words: float = 0.1
    speakers_per_variant: int = 2
    dev_variants: int = 8
    test_variants: int = 8
    noise_snr_db: tuple[float, float] | None = None
    speed: tuple[float, float] | None = None
    reverb: float = 0.0
    rt60: tuple[float, float] = (0.2, 0.8)
    telephone: bool = False
    workers: int = 2
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        if not self.hours > 0:
            raise UserError(f"data.hours must be > 0, got {self.hours}")
        if not 1 <= self.min_words <= self.max_words:
            raise UserError(f"need 1 <= data.min_words <= data.max_words, got "
                            f"{self.min_words}, {self.max_words}")
        if not 0 <= self.test_only_words < 1:
            raise UserError(f"data.test_only_words must be in [0, 1), got {self.test_only_words}")
        for name in ("dev_utts", "test_utts", "workers"):
            if getattr(self, name) < 1:
                raise UserError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.reverb <= 1:
            raise UserError(f"data.reverb is a probability and must be in [0, 1], got "
                            f"{self.reverb}")
        try:
            rt60 = tuple(float(v) for v in self.rt60)
        except (TypeError, ValueError):
            rt60 = ()
        if len(rt60) != 2 or not 0 < rt60[0] <= rt60[1] <= 10:
            raise UserError(f"data.rt60 must be [low, high] in seconds with 0 < low <= high "
                            f"<= 10, got {self.rt60}")
        if self.telephone and self.sample_rate < TELEPHONE_RATE:
            raise UserError(f"data.telephone needs data.sample_rate >= {TELEPHONE_RATE}, got "
                            f"{self.sample_rate}")
        object.__setattr__(self, "reverb", float(self.reverb))
        object.__setattr__(self, "rt60", rt60)

    @property
    def audio_rate(self) -> int:
        """Sample rate of the stored audio: 8000 with ``telephone``, else ``sample_rate``."""
        return output_rate(self.sample_rate, self.telephone)

    def key(self) -> str:
        """Hash of the parameters that change what is synthesised.

        The channel options enter only when on (``reverb > 0``, ``telephone``): a corpus
        without them keeps the key it had before they existed, and its cache."""
        skip = ("hours", "workers", *_CHANNEL_KEYS)
        params = {k: v for k, v in asdict(self).items() if k not in skip}
        if self.reverb > 0:
            params.update(reverb=self.reverb, rt60=list(self.rt60))
        if self.telephone:
            params["telephone"] = True
        params["format"] = FORMAT_VERSION
        blob = json.dumps(params, sort_keys=True, default=list).encode()
        return hashlib.sha1(blob).hexdigest()[:12]


@dataclass
class WordList:
    """Usable words of one language and the test-only share."""

    words: list[str]
    test_only: list[str]
    spelled_out: list[str] = field(default_factory=list)

    @property
    def train_words(self) -> list[str]:
        held = set(self.test_only)
        return [w for w in self.words if w not in held]


def usable_words(lang: Language, engine: Espeak | None = None) -> tuple[list[str], list[str]]:
    """CLDR words of ``lang`` that eSpeak reads natively, and those it spells out (dropped).

    Returns:
        ``(usable, spelled_out)``, both sorted.
    """
    engine = engine or Espeak.get()
    usable, dropped = [], []
    for word in cldr_words(lang.locale, lang.script, lang.turkic_casing):
        (dropped if spells_out(engine.phonemes(word, lang.voice)) else usable).append(word)
    return usable, dropped


def _load_words(lang: Language, cfg: EmbeddedConfig, root: Path) -> WordList:
    path = root / "words.json"
    if path.is_file():
        return WordList(**json.loads(path.read_text(encoding="utf-8")))
    usable, dropped = usable_words(lang)
    if len(usable) < 50:
        raise UserError(f"language {lang.name!r}: only {len(usable)} usable CLDR words")
    rng = random.Random(f"words-{cfg.seed}-{lang.iso}")
    shuffled = usable[:]
    rng.shuffle(shuffled)
    test_only = sorted(shuffled[:round(cfg.test_only_words * len(usable))])
    words = WordList(words=usable, test_only=test_only, spelled_out=dropped)
    write_json_atomic(path, asdict(words))
    return words


def _sentence(rng: random.Random, words: Sequence[str], cfg: EmbeddedConfig) -> str:
    k = min(rng.randint(cfg.min_words, cfg.max_words), len(words))
    return " ".join(rng.sample(words, k))


def _augment_params(rng: random.Random, cfg: EmbeddedConfig, utt_id: str) -> dict:
    out: dict = {}
    if cfg.speed:
        out["speed"] = round(rng.uniform(*cfg.speed), 3)
    if cfg.noise_snr_db:
        out["snr_db"] = round(rng.uniform(*cfg.noise_snr_db), 1)
    if cfg.reverb > 0:
        # A generator of its own: reverberation leaves texts, speakers and prosody as they
        # were, so a reverberant corpus pairs with the dry one utterance by utterance.
        room = random.Random(f"reverb-{cfg.seed}-{utt_id}")
        if room.random() < cfg.reverb:
            out.update(rt60_s=round(room.uniform(*cfg.rt60), 3),
                       drr_db=round(room.uniform(*DRR_DB), 1), rir_seed=room.getrandbits(32))
    return out


def _utterance(lang: Language, split: str, i: int, speaker: Speaker, rng: random.Random,
               words: Sequence[str], cfg: EmbeddedConfig, taken: set[str]) -> UttSpec:
    """Utterance ``i`` of ``split``: a sentence unique across all splits (recorded in
    ``taken``), then its prosody and augmentation, all drawn from ``rng`` in that order."""
    text = _sentence(rng, words, cfg)
    while text in taken:
        text = _sentence(rng, words, cfg)
    taken.add(text)
    utt_id = f"{lang.iso}-{split}-{i:06d}"
    return UttSpec(utt_id, split, text, speaker, speaker.prosody(rng),
                   **_augment_params(rng, cfg, utt_id))


def _fixed_split(lang: Language, split: str, speakers: list[Speaker], n: int,
                 words: Sequence[str], cfg: EmbeddedConfig, taken: set[str]) -> list[UttSpec]:
    """``n`` utterances spread evenly over ``speakers``."""
    rng = random.Random(f"{split}-{cfg.seed}-{lang.iso}")
    return [_utterance(lang, split, i, speakers[i % len(speakers)], rng, words, cfg, taken)
            for i in range(n)]


def _train_stream(lang: Language, speakers: list[Speaker], words: Sequence[str],
                  cfg: EmbeddedConfig, taken: set[str]) -> Iterator[UttSpec]:
    """The endless, fixed training sequence (budgets are its prefixes)."""
    rng = random.Random(f"train-{cfg.seed}-{lang.iso}")
    order = speakers[:]
    i = 0
    while True:
        if i % len(order) == 0:
            rng.shuffle(order)
        yield _utterance(lang, "train", i, order[i % len(order)], rng, words, cfg, taken)
        i += 1


# ---------------------------------------------------------------- the corpus

def corpus_dir(language: str, cfg: EmbeddedConfig, cache_dir: str | Path) -> Path:
    """Directory of the manifests of one language and budget (may not exist yet)."""
    lang = get_language(language)
    root = Path(cache_dir).expanduser() / "embedded" / lang.name / cfg.key()
    return root / f"corpus-{cfg.hours:g}h"


def prepare_embedded(language: str, cfg: EmbeddedConfig, cache_dir: str | Path) -> Path:
    """Builds (or reuses) the embedded corpus of ``language``; returns its manifest directory.

    Args:
        language: a registry name (``bengali``) or ISO code.
        cfg: generation parameters.
        cache_dir: root of the cache.

    Returns:
        The ``corpus-<hours>h`` directory holding per-split lhotse manifests and
        ``summary.json``.

    Raises:
        ValueError: for an unknown language or bad parameters.
    """
    lang = get_language(language)
    out = corpus_dir(lang.name, cfg, cache_dir)
    if (out / "summary.json").is_file():
        log.info("reusing cached %s corpus in %s", lang.name, out)
        return out
    root = out.parent
    audio_dir = root / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "config.json", asdict(cfg))
    words = _load_words(lang, cfg, root)
    speakers = speaker_pool(cfg.seed, cfg.speakers_per_variant, cfg.dev_variants,
                            cfg.test_variants, cfg.hard_speakers)
    taken: set[str] = set()
    fixed = {
        "test": _fixed_split(lang, "test", speakers["test"], cfg.test_utts, words.words, cfg,
                             taken),
        "dev": _fixed_split(lang, "dev", speakers["dev"], cfg.dev_utts, words.words, cfg, taken),
        "adapt": _fixed_split(lang, "adapt", speakers["adapt"],
                              cfg.adapt_utts * len(speakers["adapt"]), words.words, cfg, taken),
    }
    t0 = time.perf_counter()
    samples: dict[str, int] = {}
    rate = cfg.audio_rate
    with SynthPool(cfg.workers, lang.voice, cfg.sample_rate, audio_dir, cfg.telephone) as synth:
        for split, specs in fixed.items():
            samples.update(synth.run(specs, f"{lang.name} {split}"))
        # Training: the stream's shortest prefix holding `hours` of audio.
        target = cfg.hours * 3600 * rate
        stream = _train_stream(lang, speakers["train"], words.train_words, cfg, taken)
        train: list[UttSpec] = []
        total = 0
        mean = 2.5 * rate  # first guess of samples per utterance
        while total < target:
            batch = [next(stream) for _ in range(max(16, math.ceil((target - total) / mean
                                                                   * 1.05)))]
            got = synth.run(batch, f"{lang.name} train")
            samples.update(got)
            for spec in batch:
                if total >= target:
                    break
                if got[spec.id] > 0:
                    train.append(spec)
                    total += got[spec.id]
            lengths = [n for n in got.values() if n > 0]
            mean = float(np.mean(lengths)) if lengths else mean
    wall = time.perf_counter() - t0
    synthesized = synth.fresh_samples / rate
    speed = {"wall_s": round(wall, 2), "audio_s": round(synthesized, 1),
             "workers": cfg.workers, "audio_s_per_wall_s": round(synthesized / max(wall, 1e-9), 1)}
    summary = _write_manifests(lang, dict(fixed, train=train), samples, audio_dir, out, cfg,
                               words, speed)
    log.info("built %s corpus: %s", lang.name, json.dumps(summary["splits"]))
    return out


def _channel_custom(spec: UttSpec, cfg: EmbeddedConfig) -> dict:
    """The channel of one utterance for its supervision; nothing when the options are off, so
    that manifests stay as they were before the options existed."""
    out: dict = {}
    if cfg.reverb > 0:
        out.update(rt60_s=spec.rt60_s, drr_db=spec.drr_db if spec.rt60_s is not None else None)
    if cfg.telephone:
        out["telephone"] = True
    return out


def _write_manifests(lang: Language, splits: dict[str, list[UttSpec]], samples: dict[str, int],
                     audio_dir: Path, out: Path, cfg: EmbeddedConfig, words: WordList,
                     synthesis: dict) -> dict:
    from lhotse import AudioSource, CutSet, MonoCut, Recording, SupervisionSegment

    cutsets = {}
    for split in SPLITS:
        cuts = []
        for spec in splits[split]:
            n = samples.get(spec.id, 0)
            if n <= 0:
                continue
            dur = n / cfg.audio_rate
            rec = Recording(id=spec.id, sources=[AudioSource(
                type="file", channels=[0], source=str(audio_dir / f"{spec.id}.flac"))],
                sampling_rate=cfg.audio_rate, num_samples=n, duration=dur)
            sup = SupervisionSegment(
                id=spec.id, recording_id=spec.id, start=0.0, duration=dur, channel=0,
                text=spec.text, language=lang.name, speaker=spec.speaker.id,
                custom={"variant": spec.speaker.variant, "rate_wpm": spec.prosody.rate_wpm,
                        "pitch": spec.prosody.pitch, "pitch_range": spec.prosody.pitch_range,
                        "word_gap_10ms": spec.prosody.word_gap_10ms, "speed": spec.speed,
                        "snr_db": spec.snr_db, **_channel_custom(spec, cfg)})
            cuts.append(MonoCut(id=spec.id, start=0.0, duration=dur, channel=0,
                                recording=rec, supervisions=[sup]))
        cutsets[split] = CutSet.from_cuts(cuts)
    summary: dict = {"language": lang.name, "iso": lang.iso, "source": "embedded",
                     "generator": "eSpeak NG (GPL-3) via espeakng-loader; text: CLDR via babel",
                     "key": cfg.key(), "config": asdict(cfg),
                     "cldr_words": len(words.words), "spelled_out_dropped": len(words.spelled_out),
                     "test_only_words": len(words.test_only), "synthesis": synthesis}
    return write_manifests(cutsets, out, summary)
