"""A multilingual run: every language's corpus and vocabulary, the shared model, training on
the temperature-sampled mix, then each language scored with its own head."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from asrtl.data.manifest import cut_texts, data_cache_dir, prepare_corpus
from asrtl.data.phones import check_units, with_units, written_words
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.config import DecodeConfig
from asrtl.models.attributes import attach_vocab, check_head
from asrtl.models.ctc import ModelConfig, num_parameters
from asrtl.models.factory import features_meta
from asrtl.multilingual.data import multilingual_data
from asrtl.multilingual.model import (
    SHARED,
    MultilingualCTC,
    checkpoint_meta,
    language_model,
    load_multilingual,
)
from asrtl.train import distributed
from asrtl.train.loop import TrainConfig, fit
from asrtl.train.run import as_train_config, check_splits, claim_run_dir, score_splits

log = logging.getLogger(__name__)


def train_multilingual(run_dir: Path, languages: list[str], data_cfg: Any, model_cfg: Any,
                       train_cfg: TrainConfig | Mapping[str, Any],
                       decode_cfg: DecodeConfig | Mapping[str, Any], temperature: float,
                       device: torch.device, seed: int, config: dict[str, Any],
                       units: str = "chars") -> dict[str, Any] | None:
    """Trains (or resumes) a shared-encoder model on ``languages`` and scores each (under
    torchrun: every rank trains, rank 0 scores; the others return None). With
    ``units="phones"`` the languages share one phone head over the union of their
    inventories (a universal phone recogniser; ``model.head=attributes`` composes it).

    Writes ``results/<language>/<split>[-beam]/`` for each of ``decode_cfg.splits``.
    ``train_cfg`` and ``decode_cfg`` may be ``train:``/``decode:`` mappings (converted here).

    Returns:
        ``{"fit": ..., "checkpoint": path, "probs": {language: p},
        "scores": {language: {"<split>[-beam]": scores}}}``.

    Raises:
        ValueError: fewer than two languages, one named twice, a bad ``train`` or
            ``decode`` setting, or a split to score a corpus lacks (before training).
    """
    languages = [str(lang) for lang in languages]
    if len(set(languages)) != len(languages) or len(languages) < 2:
        raise UserError(f"languages must name at least 2 different languages, got "
                        f"{languages}")
    if temperature <= 0:
        raise UserError(f"temperature must be > 0, got {temperature}")
    cfg = as_train_config(train_cfg)
    decode_cfg = DecodeConfig.from_dict(decode_cfg)
    for lang in languages:
        check_units(units, lang)
    check_head(model_cfg.get("head"), units)
    distributed.init(device)
    claim_run_dir(run_dir, config)
    with distributed.main_first():
        corpora = {lang: with_units(prepare_corpus(data_cfg, lang, seed=seed), units,
                                    data_cache_dir(data_cfg)) for lang in languages}
    train = {lang: c.cuts("train") for lang, c in corpora.items()}
    for corpus in corpora.values():
        check_splits(corpus, decode_cfg)
    shared = units == "phones"
    if shared:  # one inventory: the union of the languages' training phones
        union = Vocabulary.from_texts([t for c in train.values() for t in cut_texts(c)], units)
        vocabs = {lang: union for lang in train}
    else:
        vocabs = {lang: Vocabulary.from_texts(cut_texts(cuts)) for lang, cuts in train.items()}
    data, probs = multilingual_data(train, {lang: c.cuts("dev") for lang, c in corpora.items()},
                                    vocabs, cfg, temperature, seed, device)
    torch.manual_seed(seed)
    model = MultilingualCTC(ModelConfig.from_dict({**model_cfg, "vocab_size": 0}), vocabs,
                            shared_head=shared)
    if shared:
        attach_vocab(model.heads[SHARED], union)
    log.info("multilingual %s: model %s, %.2f M parameters, sampling %s, device %s",
             "+".join(languages), model.cfg.name, num_parameters(model) / 1e6,
             ", ".join(f"{lang} {p:.2f}" for lang, p in probs.items()), device)
    meta = {**checkpoint_meta(vocabs, shared), "parent": None, "sampling": probs,
            "features": features_meta(model.cfg),
            "corpus": {lang: {"source": c.source, "dir": str(c.dir)}
                       for lang, c in corpora.items()}, "config": config}
    result = fit(model, data, cfg, run_dir, device, seed, meta)
    if not distributed.is_main():
        return None
    best, _, ckpt = load_multilingual(run_dir)
    scores = {lang: score_splits(run_dir, f"{lang}/", language_model(best, lang), vocabs[lang],
                                 corpus, written_words(train[lang]), decode_cfg, device,
                                 {"language": lang, "checkpoint": str(ckpt),
                                  "train_wall_s": result["train_wall_s"],
                                  "device": str(device)})
              for lang, corpus in corpora.items()}
    return {"fit": result, "checkpoint": ckpt, "probs": probs, "scores": scores}
