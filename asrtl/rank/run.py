"""A ranking run: gather what the chosen rankers need (target data, source models, a LID
classifier over the sources, source audio), run them, combine, write ``ranking.json``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
from lhotse import CutSet
from omegaconf import OmegaConf

from asrtl.data.languages import get_language
from asrtl.data.manifest import (
    audio_cuts,
    cut_texts,
    data_cache_dir,
    is_manifest_path,
    prepare_corpus,
)
from asrtl.data.phones import check_units, with_units
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.layout import RunLayout
from asrtl.lid.model import LIDConfig, LIDModel, load_lid
from asrtl.lid.train import check_lid_train, train_lid
from asrtl.models.attributes import check_head
from asrtl.rank.combine import combine, confidence, half_weights, halves, ordered
from asrtl.rank.rankers import (
    HALVES,
    RankInputs,
    RankSettings,
    check_rankers,
    needs,
    run_rankers,
)
from asrtl.records import Ranking
from asrtl.train.checkpoint import resolve_checkpoint
from asrtl.train.loop import TrainConfig
from asrtl.transfer.source import resolve_source, source_budget, units_of

log = logging.getLogger(__name__)

# The two halves of what transfers (HALVES), each weighed as a whole: the acoustic half, one
# ranker per kind of evidence, fixed before bench/ranking.py measured any of them (the LID
# posterior corrected for absorption, the LID embedding, a linear CTC probe of the source
# encoder, a transferability estimator on its features, transcript-free units), and the
# output-mapping half (issue 30: on a held-out target the acoustic half alone picked a source
# in another script, measured 5th of 6). On the 7-language bench the acoustic half alone had
# mean rho +0.85, both halves +0.82, top-1 7 of 7 either way (BENCHMARKS.md).
DEFAULT_COMBINE = ["lid_posterior_calibrated", "lid_embedding", "ctc_probe", "logme", "units",
                   "zero_shot", "zero_shot_cer", "head_coverage"]


def check_sources(target: str, sources: list[str]) -> None:
    """Raises ``ValueError`` for fewer than 2 sources, a repeated one, or the target itself."""
    if len(sources) < 2:
        raise UserError(f"ranking needs at least 2 candidate sources, got sources={sources}")
    if len(set(sources)) != len(sources):
        raise UserError(f"sources repeat: {sources}")
    if target in sources:
        raise UserError(f"source {target} is the target itself; leave it out of sources")


def target_data(cfg: Any) -> tuple[CutSet, frozenset[str], Vocabulary | None]:
    """The target's train and dev cuts (a language's corpus at ``target_hours``, or a
    manifest's cuts), the ids of the dev ones (none for a manifest), and its vocabulary
    (``None`` without transcripts).

    Raises:
        ValueError: no audio, naming the target.
    """
    target = str(cfg.target)
    try:
        dev: frozenset[str] = frozenset()
        if is_manifest_path(target):
            cuts = audio_cuts(target)
        else:
            corpus = with_units(prepare_corpus({**cfg.data, "hours": cfg.target_hours}, target,
                                               seed=cfg.seed), units_of(cfg),
                                data_cache_dir(cfg.data))
            dev_cuts = corpus.cuts("dev")  # read from disk once
            dev = frozenset(c.id for c in dev_cuts)
            cuts = CutSet.from_cuts([*corpus.cuts("train"), *dev_cuts])
    except UserError as e:  # a system OSError keeps its own one-line path in cli.recipe
        raise type(e)(f"target {target}: {e}") from None
    if len(cuts) == 0:
        raise UserError(f"target {target} has no audio")
    # the vocabulary as transfer builds it: from the training text alone
    texts = [t for t in cut_texts(c for c in cuts if c.id not in dev) if t.strip()] \
        if all(c.supervisions for c in cuts) else []
    return cuts, dev, Vocabulary.from_texts(texts, units_of(cfg)) if texts else None


def lid_model(cfg: Any, sources: list[str], device: torch.device) -> LIDModel:
    """A LID classifier over ``sources``: ``lid.checkpoint`` when given, one that
    ``recipes/lid.py`` trained over exactly them (``exp_dir/lid/a+b+c``), or one trained (or
    resumed) in ``exp_dir/rank/lid/a+b+c`` on each source's training audio (``lid.hours``).

    Raises:
        ValueError: ``lid.checkpoint`` is over other languages.
    """
    runs = RunLayout(cfg.exp_dir)
    lid = OmegaConf.to_container(cfg.lid, resolve=True) if OmegaConf.is_config(cfg.lid) \
        else dict(cfg.lid)
    if lid.get("checkpoint"):
        model, meta = load_lid(lid["checkpoint"])
        if sorted(meta.languages or []) != sorted(sources):
            raise UserError(f"lid.checkpoint={lid['checkpoint']} knows {meta.languages}, "
                            f"not sources={sources}")
        return model
    found = runs.lid(sources)
    if (found / "checkpoints" / "latest.json").is_file():
        model, meta = load_lid(resolve_checkpoint(found))
        if sorted(meta.languages or []) == sorted(sources):
            log.info("reusing the LID model in %s", found)
            return model
    arch = LIDConfig.from_dict({k: lid[k] for k in ("encoder", "channels", "kernel_sizes",
                                                    "dilations")} | {"languages": sources})
    train = lid_train_config(cfg.train, lid["train"])
    cuts = {s: prepare_corpus({**cfg.data, "hours": lid["hours"]}, s, seed=cfg.seed)
            .cuts("train") for s in sources}
    return train_lid(runs.rank_lid(sources), cuts, arch, train, device, cfg.seed,
                     lid["utterance_loss"])


# settings of the sources' training (``train.*``) the LID classifier does not inherit: its
# own ``lid.train.*`` may set them (and is refused where LID cannot use them)
NOT_INHERITED = {"stop_cer": None, "compile": False, "amp": "auto"}


def lid_train_config(train: Any, lid_train: Any) -> TrainConfig:
    """The LID classifier's training: the sources' ``train`` settings, but for
    :data:`NOT_INHERITED`, under its own ``lid.train``."""
    return TrainConfig.from_dict({**train, **NOT_INHERITED, **lid_train})


@dataclass
class Plan:
    """A checked ranking request: rankers to show, rankers to combine and their weights, the
    target's data."""

    names: list[str]
    chosen: list[str]
    weights: dict[str, float]
    settings: RankSettings
    cuts: CutSet
    dev: frozenset[str]
    vocab: Vocabulary | None
    wall_s: float


def plan(cfg: Any) -> Plan:
    """Checks a ranking request before anything is trained or written.

    Raises:
        ValueError: an unknown ranker or language, fewer than 2 sources, the target among
            them, a target without audio, or transcript-needing rankers on a target without
            transcripts (one line each).
    """
    t0 = time.perf_counter()
    target, sources = str(cfg.target), [str(s) for s in cfg.sources]
    units = units_of(cfg)
    if units != "chars" and is_manifest_path(target):
        raise UserError(f"units={units} needs a target language to phonemise, not the "
                        f"manifest {target}")
    for lang in ([] if is_manifest_path(target) else [target]) + sources:
        check_units(units, lang)
    check_head(cfg.model.get("head"), units)
    names = [str(r) for r in cfg.rankers]
    chosen = [str(r) for r in cfg.combine] if cfg.combine else \
        [r for r in DEFAULT_COMBINE if r in names] or [r for r in names if r != "combined"]
    check_rankers(list(dict.fromkeys(names + chosen)))
    settings = RankSettings.from_dict(cfg.settings)
    if "lid" in needs(names + chosen):  # its training settings, before any source trains
        lid_train = OmegaConf.to_container(cfg.lid.train, resolve=True) \
            if OmegaConf.is_config(cfg.lid.train) else dict(cfg.lid.train)
        check_lid_train(lid_train_config(cfg.train, lid_train), "lid.train")
    weights = {r: 1.0 for r in chosen} if cfg.combine else half_weights(chosen, HALVES)
    check_sources(target, sources)
    if cfg.data.name == "embedded":
        for s in sources:
            get_language(s)
    cuts, dev, vocab = target_data(cfg)
    if "models" in needs(names + chosen) and vocab is None:
        raise UserError(f"target {target} has no transcripts: rankers "
                        f"{[r for r in names + chosen if 'models' in needs([r])]} need them")
    return Plan(names, chosen, weights, settings, cuts, dev, vocab,
                time.perf_counter() - t0)


def rank(cfg: Any, req: Plan, device: torch.device) -> Ranking:
    """Ranks ``cfg.sources`` for ``cfg.target``: the record ``recipes/rank.py`` saves as
    ``ranking.json``.

    Raises:
        MissingInput: a source without a model (``asrtl.jobs.pretrain_missing`` trains
            them before, unless ``train_missing`` is false).
    """
    target, sources = str(cfg.target), [str(s) for s in cfg.sources]
    want = needs(req.names + req.chosen)
    walls = {"target_data": req.wall_s}
    t0 = time.perf_counter()
    hours = source_budget(cfg.source_hours, cfg.target_hours)
    models = {s: resolve_source(s, None, cfg.exp_dir, hours, cfg, device)
              if "models" in want else None for s in sources}
    walls["source_models"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    audio = {s: prepare_corpus({**cfg.data, "hours": hours}, s, seed=cfg.seed).cuts("dev")
             .subset(first=cfg.source_utts) for s in sources} if "audio" in want else {}
    walls["source_audio"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lid = lid_model(cfg, sources, device) if "lid" in want else None
    walls["lid_model"] = time.perf_counter() - t0
    inputs = RankInputs(target=target, target_cuts=req.cuts, target_dev=req.dev,
                        target_vocab=req.vocab or Vocabulary.from_texts(["a"]), sources=models,
                        source_audio=audio, lid=lid, device=device, seed=cfg.seed,
                        settings=req.settings)
    scores, ranker_walls = run_rankers(inputs, list(dict.fromkeys(req.names + req.chosen)))
    combined = combine(scores, req.chosen, req.weights)
    shown = {r: scores[r] for r in req.names if r != "combined"}
    return Ranking(
        target=target, sources=sources, rankers={**shown, "combined": combined},
        ranking=ordered(combined),
        confidence={**confidence(scores, req.chosen, combined), "weights": req.weights},
        halves=halves(scores, HALVES),
        zero_shot_cer={s: round(inputs.source_pass(s).cer, 4) for s in sources}
        if "models" in want else None,
        target_utterances=len(req.cuts), units=units_of(cfg),
        wall_s={**{k: round(v, 2) for k, v in walls.items()}, **ranker_walls})
