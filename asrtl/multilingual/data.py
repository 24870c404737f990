"""Batches for multilingual training: each batch is one language's, the language drawn with
temperature-based sampling over the languages' data sizes.

``p(l) ∝ n_l ** (1 / T)``: ``T = 1`` samples in proportion to the data (as one pooled corpus
would), larger ``T`` flattens toward uniform (the low-resource languages seen more often, as
in multilingual BERT and XLS-R), ``T -> 0`` toward the largest language alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from lhotse import CutSet

from asrtl.data.features import Fbank
from asrtl.data.loader import Batch, BatchDataset, train_batches
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.multilingual.model import MultilingualCTC, language_model
from asrtl.train.loop import TrainConfig, TrainData, dev_scores

Plan = list[tuple[str, list[str]]]  # (language, cut ids) per batch


def language_probs(sizes: dict[str, float], temperature: float) -> dict[str, float]:
    """Sampling probability per language from its data size (hours, say).

    Raises:
        ValueError: a temperature <= 0, or a size <= 0.
    """
    if temperature <= 0:
        raise UserError(f"temperature must be > 0, got {temperature}")
    bad = [lang for lang, n in sizes.items() if n <= 0]
    if bad:
        raise UserError(f"no training data for {', '.join(bad)}")
    weights = {lang: n ** (1.0 / temperature) for lang, n in sizes.items()}
    total = sum(weights.values())
    return {lang: w / total for lang, w in weights.items()}


def mixed_plan(batches_of: Callable[[str, int], list[list[str]]], probs: dict[str, float],
               num_batches: int, seed: int, epoch: int) -> Plan:
    """``num_batches`` batches, each language drawn from ``probs``; a language's batches come
    in the order of ``batches_of(language, round)``, a further round when one runs out.
    A pure function of ``(seed, epoch)`` (resumable)."""
    rng = random.Random(f"mix-{seed}-{epoch}")
    languages = list(probs)
    weights = [probs[lang] for lang in languages]
    queues: dict[str, list[list[str]]] = {lang: [] for lang in languages}
    rounds = dict.fromkeys(languages, 0)
    plan: Plan = []
    for lang in rng.choices(languages, weights, k=num_batches):
        if not queues[lang]:
            queues[lang] = list(batches_of(lang, rounds[lang]))
            rounds[lang] += 1
        plan.append((lang, queues[lang].pop(0)))
    return plan


class MixedDataset(torch.utils.data.Dataset):
    """Item ``i`` is the padded :class:`Batch` of ``plan[i]``, tagged with its language."""

    def __init__(self, cuts: dict[str, CutSet], vocabs: dict[str, Vocabulary], plan: Plan
                 ) -> None:
        self.plan = plan
        self.data = {lang: BatchDataset(cuts[lang], [ids for lg, ids in plan if lg == lang],
                                        vocabs[lang]) for lang in cuts}
        seen = dict.fromkeys(cuts, 0)
        self.index = []
        for lang, _ in plan:
            self.index.append((lang, seen[lang]))
            seen[lang] += 1

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> Batch:
        lang, j = self.index[i]
        batch = self.data[lang][j]
        batch.language = lang
        return batch


def multilingual_data(train: dict[str, CutSet], dev: dict[str, CutSet],
                      vocabs: dict[str, Vocabulary], cfg: TrainConfig, temperature: float,
                      seed: int, device: torch.device) -> tuple[TrainData, dict[str, float]]:
    """The :class:`TrainData` of several languages, and the sampling probabilities.

    An epoch has as many batches as one pass over every language's data; validation is per
    language (``wer/<language>`` ...), its ``loss``/``wer``/``cer`` the mean over languages.
    """
    hours = {lang: sum(c.duration for c in cuts) / 3600 for lang, cuts in train.items()}
    probs = language_probs(hours, temperature)

    def batches_of(lang: str, epoch: int, rnd: int = 0) -> list[list[str]]:
        return train_batches(train[lang], cfg.batch_duration_s, seed + 7919 * rnd, epoch)

    num_batches = sum(len(batches_of(lang, 0)) for lang in train)

    def plan(epoch: int) -> Plan:
        return mixed_plan(lambda lang, rnd: batches_of(lang, epoch, rnd), probs, num_batches,
                          seed, epoch)

    def validate(model: torch.nn.Module, fbank: Fbank) -> dict[str, float]:
        assert isinstance(model, MultilingualCTC)
        out: dict[str, float] = {}
        for lang in vocabs:
            s = dev_scores(language_model(model, lang), fbank, vocabs[lang], dev[lang], device,
                           cfg.eval_batch_duration_s)
            out.update({f"{k}/{lang}": v for k, v in s.items()})
        for k in ("loss", "wer", "cer"):
            out[k] = sum(out[f"{k}/{lang}"] for lang in vocabs) / len(vocabs)
        return out

    return TrainData(batches=plan, dataset=lambda p: MixedDataset(train, vocabs, p),
                     validate=validate), probs
