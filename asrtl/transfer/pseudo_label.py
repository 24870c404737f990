"""Pseudo-labelling untranscribed audio (self-training; iterative pseudo-labelling as in
NeMo's and flashlight's recipes): the current model transcribes the audio, the transcripts it
is confident about become training targets, the model trains on them, and so on for a few
rounds.

Confidence of an utterance: the mean posterior of the tokens greedy decoding emits (the
frames whose best token is not blank); an utterance with no token is dropped as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet, SupervisionSegment
from lhotse.utils import fastcopy

from asrtl.data.loader import eval_batches, load_padded
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.decode import greedy
from asrtl.models.ctc import CTCModel
from asrtl.models.factory import input_transform
from asrtl.settings import checked_fields


@dataclass(frozen=True)
class PseudoLabelConfig:
    """``conf/pseudo_label.yaml``'s ``pseudo:`` section.

    Attributes:
        rounds: transcribe-then-train rounds.
        threshold: the least confidence an utterance keeps its transcript with, in [0, 1).
        keep_fraction: at most this share of the utterances, the most confident, per round.
    """

    rounds: int = 2
    threshold: float = 0.5
    keep_fraction: float = 1.0

    @classmethod
    def from_dict(cls, d: Any, section: str = "pseudo") -> PseudoLabelConfig:
        """Raises: UserError: an unknown key, a bad type or a value out of range, named."""
        cfg = cls(**checked_fields(cls, d, section))
        if cfg.rounds < 1:
            raise UserError(f"{section}.rounds must be >= 1, got {cfg.rounds}")
        if not 0 <= cfg.threshold < 1:
            raise UserError(f"{section}.threshold must be in [0, 1), got {cfg.threshold}")
        if not 0 < cfg.keep_fraction <= 1:
            raise UserError(f"{section}.keep_fraction must be in (0, 1], got "
                            f"{cfg.keep_fraction}")
        return cfg


@dataclass(frozen=True)
class Label:
    """One utterance's pseudo-transcript and the model's confidence in it."""

    id: str
    text: str
    confidence: float


@torch.no_grad()
def transcribe(model: CTCModel, vocab: Vocabulary, cuts: CutSet, device: torch.device,
               batch_duration_s: float = 120.0) -> list[Label]:
    """Greedy transcripts of ``cuts`` (their transcripts, if any, are never read) with
    confidences, in the cuts' order."""
    model.to(device).eval()
    fbank = input_transform(model.cfg).to(device)
    by_id = {c.id: c for c in cuts}
    out: dict[str, Label] = {}
    for ids in eval_batches(cuts, batch_duration_s):
        wavs, wav_lens = load_padded([by_id[i] for i in ids])
        log_probs, lens = model(*fbank(wavs.to(device), wav_lens.to(device)))
        best, token = log_probs.exp().max(-1)  # (B, T')
        texts = greedy(log_probs, lens, vocab)
        for b, cid in enumerate(ids):
            t = int(lens[b])
            emitted = token[b, :t] != 0
            conf = float(best[b, :t][emitted].mean()) if emitted.any() else 0.0
            out[cid] = Label(cid, texts[b], round(conf, 4))
    return [out[c.id] for c in cuts]


def select(labels: list[Label], cfg: PseudoLabelConfig) -> tuple[list[Label], dict[str, int]]:
    """The labels kept (most confident first) and how many were dropped, by reason:
    ``empty`` (no token), ``below_threshold``, ``beyond_fraction``."""
    dropped = {"empty": 0, "below_threshold": 0, "beyond_fraction": 0}
    ok = []
    for lab in labels:
        if not lab.text.strip():
            dropped["empty"] += 1
        elif lab.confidence < cfg.threshold:
            dropped["below_threshold"] += 1
        else:
            ok.append(lab)
    ok.sort(key=lambda lab: (-lab.confidence, lab.id))
    cap = max(1, int(cfg.keep_fraction * len(labels))) if ok else 0
    dropped["beyond_fraction"] = max(0, len(ok) - cap)
    return ok[:cap], dropped


def pseudo_cuts(cuts: CutSet, kept: list[Label]) -> CutSet:
    """The kept cuts, each with one supervision: its pseudo-transcript."""
    text = {lab.id: lab.text for lab in kept}
    out = []
    for c in cuts:
        if c.id not in text:
            continue
        sup = SupervisionSegment(id=f"{c.id}-pseudo", recording_id=c.recording_id,
                                 start=0.0, duration=c.duration, channel=0,  # cut-relative
                                 text=text[c.id], speaker=c.supervisions[0].speaker
                                 if c.supervisions else None)
        out.append(fastcopy(c, supervisions=[sup]))
    return CutSet.from_cuts(out)


def check_no_leak(unlabelled: CutSet, test: CutSet, where: str) -> None:
    """The untranscribed audio shares no recording with the test split (it would leak).

    Raises:
        UserError: naming the overlap's size and an example.
    """
    def sources(cuts: CutSet) -> set[str]:
        return {str(s.source) for c in cuts if c.has_recording for s in c.recording.sources}

    shared = sources(unlabelled) & sources(test)
    if shared:
        raise UserError(f"unlabelled: {len(shared)} of its recordings are in the test split of "
                        f"{where} (e.g. {sorted(shared)[0]}): it would leak; give audio kept "
                        f"apart from the test split")


@dataclass
class CutsCorpus:
    """A corpus made of cut sets in memory (pseudo-labelled training, held-out splits of
    another corpus): what :func:`asrtl.train.run.train_and_score` reads."""

    language: str
    source: str
    dir: Path
    splits_cuts: dict[str, CutSet]
    summary: dict | None = None

    @property
    def splits(self) -> list[str]:
        return list(self.splits_cuts)

    def cuts(self, split: str) -> CutSet:
        if split not in self.splits_cuts:
            raise UserError(f"corpus {self.dir} has no split {split!r} (has {self.splits})")
        return self.splits_cuts[split]
