"""Rankers: each maps (candidate sources, target data) to a score per source, higher =
better source. One interface, :data:`RANKERS`; what several rankers need from the same
models (a pass of each source model over the target's audio, LID scores, acoustic units)
is computed once per :class:`RankInputs` and shared.

Target data are the target's train and dev splits: no ranker reads its test split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from lhotse import CutSet

from asrtl.data.loader import BatchDataset, eval_batches
from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import SPACE, Vocabulary
from asrtl.errors import UserError
from asrtl.eval.decode import greedy
from asrtl.eval.evaluate import ctc_loss
from asrtl.eval.score import score
from asrtl.lid.model import LIDModel
from asrtl.lid.score import Posteriors, posteriors
from asrtl.models.attributes import attach_vocab
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model, input_transform
from asrtl.rank import units as unitlib
from asrtl.rank.estimators import frame_energy_db, leep, logme, segment_alignment
from asrtl.settings import checked_fields
from asrtl.train.checkpoint import Checkpoint
from asrtl.transfer.copy import map_head, text_coverage


@dataclass(frozen=True)
class RankSettings:
    """How the rankers look at the data.

    Attributes:
        max_frames: frames (output frames of a source model) sampled for LogME and LEEP.
        units_k: acoustic units (k-means centroids) of the ``units`` ranker.
        units_ngram: n of the unit n-grams compared.
        units_frames: frames per language that fit the codebook.
        batch_duration_s: audio seconds per evaluation batch.
        probe_epochs, probe_lr: training of the ``ctc_probe`` head.
    """

    max_frames: int = 20000
    units_k: int = 64
    units_ngram: int = 2
    units_frames: int = 20000
    batch_duration_s: float = 120.0
    probe_epochs: int = 20
    probe_lr: float = 0.01

    def __post_init__(self) -> None:
        for key in ("max_frames", "units_k", "units_ngram", "units_frames", "probe_epochs"):
            if getattr(self, key) < 1:
                raise UserError(f"settings.{key}: expected at least 1, got {getattr(self, key)}")
        for key in ("batch_duration_s", "probe_lr"):
            if not getattr(self, key) > 0:
                raise UserError(f"settings.{key}: expected > 0, got {getattr(self, key)}")

    @classmethod
    def from_dict(cls, d: Any, section: str = "settings") -> RankSettings:
        """Builds from ``recipes/rank.py``'s ``settings:`` mapping.

        Raises:
            ValueError: an unknown key, a bad type or value, as one line naming
                ``settings.<key>``.
        """
        return cls(**checked_fields(cls, d, section))


@dataclass
class SourcePass:
    """One source model run over the target's audio.

    Attributes:
        features: ``(N, D)`` sampled encoder frames (the layer below the head).
        labels: ``(N,)`` their target-token labels (flat start within loud runs).
        source_probs: ``(N, Z)`` the source head's posteriors over its own tokens there.
        loss_per_token: CTC loss of the head mapped to the target vocabulary (as transfer
            maps it), per target token, over all target utterances.
        cer: greedy CER of that mapped model.
        utterances: per target utterance, ``(id, encoder frames (T, D), target token ids)``.
        head: the mapped head (the ``ctc_probe``'s starting point).
    """

    features: np.ndarray
    labels: np.ndarray
    source_probs: np.ndarray
    loss_per_token: float
    cer: float
    utterances: list[tuple[str, torch.Tensor, list[int]]]
    head: torch.nn.Linear


@dataclass
class RankInputs:
    """What the rankers may read, and what they share.

    Attributes:
        target: the target's name.
        target_cuts: the target's train and dev cuts (transcribed; never its test split).
        target_dev: ids of the dev cuts among them (the ``ctc_probe``'s held-out part; empty:
            every fifth utterance).
        target_vocab: the target's graphemes (from its training text).
        sources: each candidate's checkpoint (``None`` where no ranker needs models).
        source_audio: each candidate's held-out audio (dev split), for LID and units.
        lid: a LID classifier over the candidates (never trained on the target).
    """

    target: str
    target_cuts: CutSet
    target_vocab: Vocabulary
    sources: dict[str, Checkpoint | None]
    target_dev: frozenset[str] = frozenset()
    source_audio: dict[str, CutSet] = field(default_factory=dict)
    lid: LIDModel | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    settings: RankSettings = field(default_factory=RankSettings)
    _passes: dict[str, SourcePass] = field(default_factory=dict, repr=False)
    _lid: dict[str, Posteriors] = field(default_factory=dict, repr=False)
    _units: dict[str, float] | None = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def source_pass(self, name: str) -> SourcePass:
        if name not in self._passes:
            ckpt = self.sources[name]
            if ckpt is None:
                raise ValueError(f"ranker needs the model of source {name}, none was loaded")
            self._passes[name] = run_source(ckpt, self.target_vocab, self.target_cuts,
                                            self.device, self.settings, self.seed)
        return self._passes[name]

    def lid_posteriors(self, name: str) -> Posteriors:
        """The LID model over the target's audio (``name == target``) or a source's."""
        if self.lid is None:
            raise ValueError("a LID ranker needs a LID model over the sources")
        if name not in self._lid:
            cuts = self.target_cuts if name == self.target else self.source_audio[name]
            self._lid[name] = posteriors(self.lid, cuts, self.device)
        return self._lid[name]


@torch.no_grad()
def run_source(ckpt: Checkpoint, vocab: Vocabulary, cuts: CutSet, device: torch.device,
               settings: RankSettings, seed: int) -> SourcePass:
    """One pass of a source model over the target's transcribed audio (see
    :class:`SourcePass`)."""
    model = ckpt.model.to(device).eval()
    mapped = build_model(ModelConfig.from_dict({**model.cfg.to_dict(), "vocab_size": len(vocab)}))
    attach_vocab(mapped, vocab)
    map_head(model, ckpt.vocab, mapped, vocab, "mean")
    head = mapped.head.to(device)
    fbank = input_transform(model.cfg).to(device)
    batches = BatchDataset(cuts, eval_batches(cuts, settings.batch_duration_s), vocab)
    hop, space = model.cfg.samples_per_frame, vocab.index[SPACE]
    feats, labels, probs, refs, hyps, utts = [], [], [], [], [], []
    loss, tokens = 0.0, 0
    for batch in batches:
        batch = batch.to(device)
        hidden, lens = model.encode(*fbank(batch.wavs, batch.wav_lens))
        log_probs = head(hidden).log_softmax(-1)
        n = int(batch.target_lens.sum())
        loss += float(ctc_loss(log_probs, lens, batch.targets, batch.target_lens)) * n
        tokens += n
        hyps += greedy(log_probs, lens, vocab)
        refs += batch.texts
        src = model.head(hidden).softmax(-1)
        for b, t in enumerate(lens.tolist()):
            toks = batch.targets[b, :int(batch.target_lens[b])].tolist()
            h = hidden[b, :t].float().cpu()  # one copy: the probe's tensor, LogME's array
            utts.append((batch.ids[b], h, toks))
            wav = batch.wavs[b, :int(batch.wav_lens[b])].cpu().numpy()
            labels.append(segment_alignment(toks, frame_energy_db(wav, t, hop), space))
            feats.append(h.numpy())
            probs.append(src[b, :t].float().cpu().numpy())
    f, y, p = np.concatenate(feats), np.concatenate(labels), np.concatenate(probs)
    if len(f) > settings.max_frames:
        keep = np.sort(np.random.default_rng(seed).choice(len(f), settings.max_frames,
                                                          replace=False))
        f, y, p = f[keep], y[keep], p[keep]
    return SourcePass(features=f, labels=y, source_probs=p,
                      loss_per_token=loss / max(tokens, 1),
                      cer=score(refs, hyps, vocab.units)["cer"],
                      utterances=utts, head=head.cpu())


def _padded(utts: list[tuple[str, torch.Tensor, list[int]]]) -> tuple[torch.Tensor, ...]:
    """``(frames (B, T, D), frame_lens (B,), targets (B, L), target_lens (B,))``."""
    x = torch.nn.utils.rnn.pad_sequence([u[1] for u in utts], batch_first=True)
    y = torch.nn.utils.rnn.pad_sequence([torch.tensor(u[2]) for u in utts], batch_first=True)
    return (x, torch.tensor([len(u[1]) for u in utts]), y,
            torch.tensor([len(u[2]) for u in utts]))


def probe_loss(p: SourcePass, dev: frozenset[str], epochs: int, lr: float, seed: int,
               batch_utts: int = 16) -> float:
    """The lowest CTC loss per token on the held-out utterances of a linear head trained on
    the frozen encoder frames of the others, starting from the mapped head (as transfer
    does), over ``epochs`` (the mapped head itself included): early stopping, as probes are
    evaluated."""
    held = dev or frozenset(u[0] for u in sorted(p.utterances)[::5])
    train = [u for u in p.utterances if u[0] not in held]
    test = [u for u in p.utterances if u[0] in held]
    if not train or not test:
        raise UserError("ctc_probe needs target utterances to train on and to hold out")
    gen = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(p.head.in_features, p.head.out_features)
    with torch.no_grad():  # the mapped head's rows (an attribute head's composed ones too)
        head.weight.copy_(p.head.weight.detach())
        head.bias.copy_(p.head.bias.detach())
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    x_dev, xl_dev, y_dev, yl_dev = _padded(test)

    def dev_loss() -> float:
        with torch.no_grad():
            return float(ctc_loss(head(x_dev).log_softmax(-1), xl_dev, y_dev, yl_dev))

    best = dev_loss()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=gen).tolist()
        for i in range(0, len(order), batch_utts):
            x, xl, y, yl = _padded([train[j] for j in order[i:i + batch_utts]])
            loss = ctc_loss(head(x).log_softmax(-1), xl, y, yl)
            opt.zero_grad()
            loss.backward()
            opt.step()
        best = min(best, dev_loss())
    return best


def lid_posterior(inputs: RankInputs) -> dict[str, float]:
    """The reference study's score: each source's LID posterior averaged over the target's
    frames."""
    post = inputs.lid_posteriors(inputs.target)
    mean = post.frame_mean()
    return {s: float(mean[post.languages.index(s)]) for s in inputs.names}


def lid_posterior_calibrated(inputs: RankInputs) -> dict[str, float]:
    """The LID posterior of each source on the target, over what that class takes of the
    other sources' audio (log ratio): a class that absorbs any unfamiliar audio no longer
    wins by that alone."""
    post = inputs.lid_posteriors(inputs.target)
    target = post.frame_mean()
    out = {}
    for s in inputs.names:
        k = post.languages.index(s)
        foreign = [inputs.lid_posteriors(o).frame_mean()[k] for o in inputs.names if o != s]
        out[s] = float(np.log(max(target[k], 1e-12)) - np.log(max(np.mean(foreign), 1e-12)))
    return out


def lid_embedding(inputs: RankInputs) -> dict[str, float]:
    """Cosine similarity between the target's and each source's mean frame embedding from
    the same LID encoder."""
    t = inputs.lid_posteriors(inputs.target).mean_embedding()
    out = {}
    for s in inputs.names:
        e = inputs.lid_posteriors(s).mean_embedding()
        out[s] = float(t @ e / max(np.linalg.norm(t) * np.linalg.norm(e), 1e-12))
    return out


def zero_shot(inputs: RankInputs) -> dict[str, float]:
    """Minus the CTC loss per target token of each source model, its head mapped to the
    target's vocabulary as transfer maps it (the same target tokens for every source, so
    per token and per frame rank alike)."""
    return {s: -inputs.source_pass(s).loss_per_token for s in inputs.names}


def zero_shot_cer(inputs: RankInputs) -> dict[str, float]:
    """Minus the greedy CER of that mapped source model on the target's train and dev audio."""
    return {s: -inputs.source_pass(s).cer for s in inputs.names}


def ctc_probe(inputs: RankInputs) -> dict[str, float]:
    """Minus the held-out (dev) CTC loss per token of a linear head trained on each source's
    frozen encoder over the target's training utterances (a linear probe, as frozen-feature
    benchmarks such as SUPERB evaluate encoders; early-stopped on the dev loss): transfer's
    ``frozen`` strategy reduced to its head, on cached features."""
    st = inputs.settings
    return {s: -probe_loss(inputs.source_pass(s), inputs.target_dev, st.probe_epochs,
                           st.probe_lr, inputs.seed) for s in inputs.names}


def logme_ranker(inputs: RankInputs) -> dict[str, float]:
    """LogME of each source's frozen encoder frames for the target's tokens (flat-start
    labels; :mod:`asrtl.rank.estimators`)."""
    return {s: logme(p.features, p.labels) for s in inputs.names
            for p in [inputs.source_pass(s)]}


def leep_ranker(inputs: RankInputs) -> dict[str, float]:
    """LEEP of each source head's frame posteriors for the target's tokens."""
    return {s: leep(p.source_probs, p.labels) for s in inputs.names
            for p in [inputs.source_pass(s)]}


def head_coverage(inputs: RankInputs) -> dict[str, float]:
    """Share of the target's training text (its characters, by frequency) that each source
    head can emit, so that transfer maps its row (:func:`asrtl.transfer.copy.map_head`): the
    output-mapping half of what transfers, which a source in another script lacks however
    alike it sounds. Reads only the source vocabularies and the target's train/dev text."""
    texts = cut_texts(inputs.target_cuts)
    out = {}
    for s in inputs.names:
        ckpt = inputs.sources[s]
        if ckpt is None or ckpt.vocab is None:
            raise ValueError(f"head_coverage needs the vocabulary of source {s}")
        out[s] = text_coverage(inputs.target_vocab, set(ckpt.vocab.tokens), texts)
    return out


def acoustic_units(inputs: RankInputs) -> dict[str, float]:
    """Similarity of unit n-gram distributions (1 - Jensen-Shannon, bits) between the
    target's audio and each source's: units from one k-means codebook over normalised
    filterbank frames of all of them. Needs no transcripts and no source model."""
    if inputs._units is None:
        st = inputs.settings
        frames = {inputs.target: unitlib.fbank_frames(inputs.target_cuts)}
        frames |= {s: unitlib.fbank_frames(inputs.source_audio[s]) for s in inputs.names}
        book = unitlib.fit_codebook(list(frames.values()), st.units_k, st.units_frames,
                                    inputs.seed)
        dists = {k: unitlib.ngram_distribution(unitlib.units(v, book), st.units_ngram)
                 for k, v in frames.items()}
        inputs._units = {s: unitlib.js_similarity(dists[inputs.target], dists[s])
                         for s in inputs.names}
    return dict(inputs._units)


@dataclass(frozen=True)
class Ranker:
    """A ranker and what it needs: source ``models``, a ``lid`` classifier, source
    ``audio``."""

    fn: Callable[[RankInputs], dict[str, float]]
    needs: frozenset[str]


RANKERS: dict[str, Ranker] = {
    "lid_posterior": Ranker(lid_posterior, frozenset({"lid"})),
    "lid_posterior_calibrated": Ranker(lid_posterior_calibrated, frozenset({"lid", "audio"})),
    "lid_embedding": Ranker(lid_embedding, frozenset({"lid", "audio"})),
    "zero_shot": Ranker(zero_shot, frozenset({"models"})),
    "zero_shot_cer": Ranker(zero_shot_cer, frozenset({"models"})),
    "ctc_probe": Ranker(ctc_probe, frozenset({"models"})),
    "logme": Ranker(logme_ranker, frozenset({"models"})),
    "leep": Ranker(leep_ranker, frozenset({"models"})),
    "units": Ranker(acoustic_units, frozenset({"audio"})),
    "head_coverage": Ranker(head_coverage, frozenset({"models"})),
}
# the two halves of what transfers (issue 30): how alike the audio is, to the source's
# encoder or classifier, and how much of the target's output the source's head can emit
HALVES = {"acoustic": ("lid_posterior", "lid_posterior_calibrated", "lid_embedding", "units",
                       "logme", "leep", "ctc_probe"),
          "output": ("zero_shot", "zero_shot_cer", "head_coverage")}


def check_rankers(names: list[str]) -> None:
    """Raises ``ValueError`` naming an unknown ranker and listing the known ones."""
    unknown = [n for n in names if n not in RANKERS and n != "combined"]
    if unknown:
        raise UserError(f"unknown ranker(s) {unknown}; known: {', '.join(RANKERS)}, combined")
    if not names:
        raise UserError("rankers is empty; known: " + ", ".join(RANKERS))


def needs(names: list[str]) -> set[str]:
    """What the named rankers need between them."""
    return set().union(*(RANKERS[n].needs for n in names if n in RANKERS))


def run_rankers(inputs: RankInputs, names: list[str]) -> tuple[dict[str, dict[str, float]],
                                                                dict[str, float]]:
    """Each named ranker's scores (rounded to 6 decimals) and wall seconds (a ranker that
    first needs a shared pass pays for it)."""
    scores, walls = {}, {}
    for name in names:
        if name == "combined":
            continue
        t0 = time.perf_counter()
        raw = RANKERS[name].fn(inputs)
        walls[name] = round(time.perf_counter() - t0, 2)
        scores[name] = {s: round(float(raw[s]), 6) for s in inputs.names}
    return scores, walls
