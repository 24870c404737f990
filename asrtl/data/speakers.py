"""Synthetic speakers: eSpeak voice variant x pitch x pitch range x rate x word gap.

One speaker set serves every language, with one train/dev/test split by *voice variant*, so
that every language's test set has the same (unseen) voices and a comparison between
languages measures language, not voice. A pool of "hard" speakers (extreme pitch or rate on
held-out variants, and novelty voices) is kept out of training for speaker adaptation.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass

from asrtl.data.espeak import Prosody, espeak_paths
from asrtl.errors import UserError

# Novelty voices (robots, whisper, croak...): never in the ordinary splits.
NOVELTY_VARIANTS = frozenset({
    "Demonic", "UniRobot", "anikaRobot", "croak", "whisper", "whisperf", "Storm", "Tweaky",
    "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7",
    "robosoft8",
})
HARD_NOVELTY = ("croak", "whisper", "Tweaky", "robosoft3")


@dataclass(frozen=True)
class Speaker:
    """A fixed synthetic speaker; per-utterance prosody is drawn around its centre.

    Attributes:
        id: stable id, e.g. ``"m3-p42-r171"``.
        variant: eSpeak voice variant (file in ``voices/!v``).
        pitch: pitch centre, 0-100.
        pitch_range: pitch range centre, 0-100.
        rate_wpm: speaking rate centre, words per minute.
        word_gap_10ms: pause between words, 10 ms units.
        split: ``train``, ``dev``, ``test`` or ``adapt`` (hard speakers).
    """

    id: str
    variant: str
    pitch: int
    pitch_range: int
    rate_wpm: int
    word_gap_10ms: int
    split: str

    def prosody(self, rng: random.Random) -> Prosody:
        """Draws one utterance's prosody around this speaker's centre."""
        return Prosody(
            rate_wpm=max(80, round(self.rate_wpm * rng.uniform(0.92, 1.08))),
            pitch=min(99, max(0, self.pitch + rng.randint(-6, 6))),
            pitch_range=min(99, max(0, self.pitch_range + rng.randint(-10, 10))),
            word_gap_10ms=max(1, self.word_gap_10ms + rng.randint(-1, 1)),
        )

    def to_dict(self) -> dict:
        return asdict(self)


def voice_variants() -> list[str]:
    """Ordinary voice variants shipped with eSpeak NG (novelty voices excluded), sorted."""
    _, data = espeak_paths()
    names = os.listdir(os.path.join(data, "voices", "!v"))
    return sorted(n for n in names if " " not in n and n not in NOVELTY_VARIANTS)


def _speaker(variant: str, split: str, rng: random.Random, extreme: bool = False) -> Speaker:
    if extreme:
        # Far outside the training ranges: very low/high pitch, or very slow/fast speech.
        pitch = rng.choice([rng.randint(0, 10), rng.randint(90, 99)])
        rate = rng.choice([rng.randint(95, 115), rng.randint(265, 300)])
    else:
        pitch, rate = rng.randint(25, 75), rng.randint(140, 220)
    pitch_range = rng.randint(25, 80)
    gap = rng.randint(3, 9)
    return Speaker(id=f"{variant}-p{pitch}-r{rate}-g{gap}", variant=variant, pitch=pitch,
                   pitch_range=pitch_range, rate_wpm=rate, word_gap_10ms=gap, split=split)


def speaker_pool(seed: int = 0, speakers_per_variant: int = 2, dev_variants: int = 8,
                 test_variants: int = 8, hard_speakers: int = 8) -> dict[str, list[Speaker]]:
    """The speaker set shared by every language.

    Variants are shuffled with ``seed`` and split: ``dev_variants`` and ``test_variants`` are
    held out of training entirely. Hard speakers take extreme prosody on the test variants
    (half of them) and novelty voices (the other half).

    Returns:
        ``{"train": [...], "dev": [...], "test": [...], "adapt": [...]}``.

    Raises:
        ValueError: when too few variants are left for training.
    """
    variants = voice_variants()
    rng = random.Random(f"speakers-{seed}")
    rng.shuffle(variants)
    if dev_variants + test_variants >= len(variants) - 1:
        raise UserError(f"dev_variants + test_variants = {dev_variants + test_variants} leaves "
                        f"no training voices among {len(variants)} variants")
    held = {"dev": variants[:dev_variants],
            "test": variants[dev_variants:dev_variants + test_variants],
            "train": variants[dev_variants + test_variants:]}
    pool: dict[str, list[Speaker]] = {
        split: [_speaker(v, split, rng) for v in vs for _ in range(speakers_per_variant)]
        for split, vs in held.items()}
    n_extreme = hard_speakers - hard_speakers // 2
    extreme = [_speaker(held["test"][i % len(held["test"])], "adapt", rng, extreme=True)
               for i in range(n_extreme)]
    novelty = [_speaker(HARD_NOVELTY[i % len(HARD_NOVELTY)], "adapt", rng)
               for i in range(hard_speakers // 2)]
    pool["adapt"] = extreme + novelty
    return pool
