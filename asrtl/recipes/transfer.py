"""Transfer: copy layers of a source model into a target model and adapt it on a small budget.

    python recipes/transfer.py source=assamese target=bengali
    python recipes/transfer.py source=assamese target=bengali strategy=chain_thaw
    python recipes/transfer.py source=turkish target=bengali \
        transfer.layers='[encoder.layers.2,head]'
    python recipes/transfer.py source=none target=bengali                  # scratch baseline
    python recipes/transfer.py source_checkpoint=/path/to/ckpt target=bengali
    python recipes/transfer.py source=multilingual:assamese+thai+turkish target=bengali

A source language without a finished pretraining run is pretrained first
(``asrtl.jobs.pretrain_missing``, which logs its plan), with the same code as
recipes/pretrain.py, on ``source_hours`` (default 6 x ``target_hours``) into
``exp/pretrain/<source>-<hours>h/``. A multilingual source (``recipes/multilingual.py``) gives
its shared layers and a head over the union of its languages' vocabularies (a token's row is
the mean over the heads that have it), mapped to the target's vocabulary. Writes
``exp/transfer/<source>-to-<target>/<strategy>/``: copy_report.json, summary.json, and a run
layout as in pretraining.
"""

import logging
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, recipe
from asrtl.data.manifest import cut_texts, data_cache_dir, prepare_corpus
from asrtl.data.phones import check_units, with_units
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.config import DecodeConfig
from asrtl.io import write_json_atomic
from asrtl.jobs import pretrain_missing
from asrtl.layout import RunLayout
from asrtl.models.attributes import attach_vocab, check_head
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.models.progressive import lateral_strengths
from asrtl.records import TransferSummary
from asrtl.train import distributed
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.device import resolve_device
from asrtl.train.loop import TrainConfig
from asrtl.train.model_card import write_model_card
from asrtl.train.run import claim_run_dir, run_meta, train_and_score
from asrtl.transfer.copy import CopyReport, copy_layers
from asrtl.transfer.features import fit_fne_statistics, layer_weights
from asrtl.transfer.progressive import check_columns, load_columns
from asrtl.transfer.source import (
    check_same_architecture,
    is_language,
    resolve_source,
    source_budget,
)
from asrtl.transfer.strategies import StrategyConfig, apply_strategy, with_feature_layers

log = logging.getLogger("transfer")

@hydra.main(config_path="../conf", config_name="transfer", version_base="1.3")
@recipe(distributed=True)
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    strategy = with_feature_layers(StrategyConfig.from_dict(cfg.strategy),  # bad settings fail
                                   cfg.features.layers)                     # before any work
    decode = DecodeConfig.from_dict(cfg.decode)
    if "test" not in decode.splits:
        raise UserError(f"decode.splits must include test (summary.json's WER), got "
                        f"{list(decode.splits)}")
    train_cfg = TrainConfig.from_dict({**cfg.train, **(
        {"schedule": strategy.schedule} if strategy.schedule else {})})
    units = str(cfg.units)
    check_units(units, str(cfg.target))
    check_head(cfg.model.get("head"), units)
    columns = progressive_sources(cfg, strategy)
    config = OmegaConf.to_container(cfg, resolve=True)
    claim_run_dir(run_dir, config)
    device = resolve_device(cfg.device)
    distributed.init(device)
    if str(cfg.source) == str(cfg.target):
        log.warning("source=%s is the target itself: same-language pretraining (the "
                    "large-budget reference), not cross-lingual transfer", cfg.source)
    hours = source_budget(cfg.source_hours, cfg.target_hours)
    if not cfg.source_checkpoint:
        pretrain_missing(cfg.exp_dir, columns or [str(cfg.source)], hours, cfg, device)
    if columns:  # progressive: every source a frozen column, the first the target's start
        sources = [resolve_source(s, None, cfg.exp_dir, hours, cfg, device) for s in columns]
        check_columns(sources)
        source = sources[0]
    else:
        source = resolve_source(str(cfg.source), cfg.source_checkpoint, cfg.exp_dir, hours,
                                cfg, device)
    with distributed.main_first():
        corpus = with_units(prepare_corpus({**cfg.data, "hours": cfg.target_hours}, cfg.target,
                                           seed=cfg.seed), units, data_cache_dir(cfg.data))
    texts = cut_texts(corpus.cuts("train"))
    vocab = Vocabulary.from_texts(texts, units)
    torch.manual_seed(cfg.seed)
    features = strategy.features.model_fields() if strategy.features else {}
    model = build_model(ModelConfig.from_dict({**cfg.model, **features,
                                               "columns": len(columns),
                                               "vocab_size": len(vocab)}))
    attach_vocab(model, vocab)
    if source is not None:
        check_same_architecture(source, model.cfg)
    if source is None:
        report = CopyReport(reinitialised=list(model.state_dict()))
    else:
        layers = list(cfg.transfer.layers) if cfg.transfer.layers is not None else None
        report = copy_layers(source.model, model, layers, source.vocab, vocab,
                             cfg.transfer.head_init, texts)
    if columns:
        for s in sources[1:]:
            check_same_architecture(s, model.cfg)
        load_columns(model, sources, report)
    fit_fne_statistics(model, corpus.cuts("train"), vocab, device)  # fne: the target's own
    fit_kwargs = apply_strategy(model, strategy, report.layers)
    report.frozen = fit_kwargs.pop("frozen")
    log.info("transfer %s -> %s (%s): %s", cfg.source, cfg.target, strategy.name,
             report.summary())
    write_json_atomic(run_dir / "copy_report.json", report.to_dict())
    out = train_and_score(run_dir, corpus, vocab, model, train_cfg, decode, device,
                          cfg.seed, run_meta(corpus, vocab, model, config,
                                             str(source.path) if source else None),
                          **fit_kwargs)
    if out is None:  # a rank other than 0 of a torchrun: rank 0 scores and reports
        return
    greedy = out["scores"]["test"]
    summary = TransferSummary(
        source="+".join(columns) if columns else cfg.source, target=cfg.target,
        strategy=strategy.name,
        source_checkpoint=str(source.path) if source else None,
        source_hours=source.meta.data.get("hours") if source else None,
        target_hours=cfg.target_hours, wer=greedy["wer"], cer=greedy["cer"],
        wer_percent=greedy["wer_percent"], cer_percent=greedy["cer_percent"],
        beam=out["scores"].get("test-beam"), epochs=train_cfg.epochs,
        steps=out["fit"]["steps"], wall_s=out["fit"]["train_wall_s"], device=str(device),
        seed=cfg.seed, copy=report.summary(), units=units,
        laterals=laterals_of(out["checkpoint"], columns) if columns else None,
        layer_weights=layer_weights(out["checkpoint"]) if strategy.features else None)
    scratch = RunLayout(cfg.exp_dir).transfer("none", str(cfg.target), units=units)
    if (scratch / "summary.json").is_file() and scratch.resolve() != run_dir.resolve():
        try:  # best effort: a bad baseline file never costs this run its summary
            summary.vs_scratch = summary.against(
                TransferSummary.load(scratch / "summary.json"), str(scratch))
        except UserError as e:
            log.warning("no comparison with the scratch baseline: %s", e)
    summary.save(run_dir / "summary.json")
    write_model_card(run_dir)
    rate = "PER" if units == "phones" else "CER"
    print(f"{cfg.source} -> {cfg.target} ({strategy.name}): WER "
          f"{summary.wer_percent:.1f}% {rate} {summary.cer_percent:.1f}% (greedy)")
    if summary.vs_scratch and summary.vs_scratch["worse"]:
        print(f"negative transfer: WER {summary.wer_percent:.1f}% against "
              f"{100 * summary.vs_scratch['wer']:.1f}% with no pretraining "
              f"({summary.vs_scratch['run']}; one seed)")


def progressive_sources(cfg: DictConfig, strategy: StrategyConfig) -> list[str]:
    """``strategy=progressive``'s columns: ``sources=[...]``, else ``[source]``; none for
    another strategy.

    Raises:
        UserError: ``sources`` without ``strategy=progressive``, a progressive run without a
            source language, a source named twice.
    """
    if cfg.sources is not None and not OmegaConf.is_list(cfg.sources) \
            and not isinstance(cfg.sources, list):
        raise UserError(f"sources must be a list, e.g. sources=[assamese,hindi], got "
                        f"{cfg.sources!r}")
    given = [str(s) for s in (cfg.sources or [])]
    if not strategy.progressive:
        if given:
            raise UserError(f"sources={given} is for strategy=progressive (strategy "
                            f"{strategy.name} transfers from one source=...)")
        return []
    if cfg.source_checkpoint:
        raise UserError("strategy=progressive takes source languages (sources=[a,b,...]), "
                        "not source_checkpoint")
    sources = given or ([str(cfg.source)] if is_language(str(cfg.source)) else [])
    if not sources:
        raise UserError("strategy=progressive needs sources=[a,b,...] (or source=<language>)")
    if len(set(sources)) != len(sources):
        raise UserError(f"sources names a language twice: {sources}")
    odd = [s for s in sources if not is_language(s)]
    if odd:
        raise UserError(f"sources must be languages (each pretrained as a column), not {odd}")
    return sources


def laterals_of(checkpoint: Path, sources: list[str]) -> dict[str, list[float]]:
    """Per source, how much the trained target leans on its column at each layer."""
    strengths = lateral_strengths(load_checkpoint(checkpoint).model) or []
    return dict(zip(sources, strengths, strict=True))


if __name__ == "__main__":
    check_overrides("transfer")
    main()
