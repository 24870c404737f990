"""Pseudo-labelling: a model transcribes untranscribed audio, trains on what it is confident
about, and again, for ``pseudo.rounds`` rounds (self-training).

    python recipes/pseudo_label.py checkpoint=exp/transfer/assamese-to-bengali/finetune \
        unlabelled=bengali
    python recipes/pseudo_label.py checkpoint=C unlabelled=/data/calls.jsonl.gz eval=bengali

Round 0 scores the checkpoint as it is; round N transcribes the untranscribed audio with
round N-1's model, keeps the transcripts whose confidence (the mean posterior of the emitted
tokens) is at least ``pseudo.threshold`` (at most ``pseudo.keep_fraction`` of them, the most
confident), and fine-tunes round N-1's model on them, choosing its checkpoint on ``eval``'s
dev split and scoring its test split. Writes ``exp/pseudo_label/<unlabelled>/ckpt-<model>/``:
``round-N/`` (``pseudo.json``: kept and dropped by reason; ``labels.tsv``: every
transcript and its confidence; a run layout as in pretraining) and ``rounds.json``. A rerun
resumes the round it stopped in and skips finished ones.
"""

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from asrtl.cli import check_overrides, recipe
from asrtl.data.manifest import audio_cuts, data_cache_dir, is_manifest_path, prepare_corpus
from asrtl.data.phones import with_units
from asrtl.errors import UserError
from asrtl.eval.config import DecodeConfig
from asrtl.io import write_json_atomic, write_text_atomic
from asrtl.models.factory import build_model
from asrtl.train.checkpoint import load_checkpoint
from asrtl.train.device import resolve_device
from asrtl.train.loop import TrainConfig
from asrtl.train.run import claim_run_dir, run_meta, score_splits, train_and_score
from asrtl.transfer.pseudo_label import (
    CutsCorpus,
    Label,
    PseudoLabelConfig,
    check_no_leak,
    pseudo_cuts,
    select,
    transcribe,
)

log = logging.getLogger("pseudo_label")


@hydra.main(config_path="../conf", config_name="pseudo_label", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    pseudo = PseudoLabelConfig.from_dict(cfg.pseudo)  # bad settings fail before any work
    train_cfg, decode = TrainConfig.from_dict(cfg.train), DecodeConfig.from_dict(cfg.decode)
    if "test" not in decode.splits:
        raise UserError(f"decode.splits must include test (each round's score), got "
                        f"{list(decode.splits)}")
    unlabelled_name = str(cfg.unlabelled)
    manifest = is_manifest_path(unlabelled_name)
    eval_lang = str(cfg.eval) if cfg.eval else None if manifest else unlabelled_name
    if eval_lang is None:
        raise UserError("eval: give the language whose dev and test splits judge the rounds "
                        "(unlabelled is a manifest)")
    ckpt = load_checkpoint(cfg.checkpoint)
    vocab, model = ckpt.vocab, ckpt.model
    if decode.beam and vocab.units != "chars":
        raise UserError(f"decode.beam=true: a {vocab.units} model's rounds are scored greedy "
                        f"(the pseudo-labelled text has no pronunciation lexicon); set "
                        f"decode.beam=false")
    data = {**cfg.data, "hours": cfg.unlabelled_hours}
    unlabelled = (audio_cuts(unlabelled_name) if manifest else
                  prepare_corpus(data, unlabelled_name, seed=cfg.seed).cuts("train"))
    held = with_units(prepare_corpus(data, eval_lang, seed=cfg.seed), vocab.units,
                      data_cache_dir(data))
    check_no_leak(unlabelled, held.cuts("test"), eval_lang)
    config = OmegaConf.to_container(cfg, resolve=True)
    claim_run_dir(run_dir, config, work="round-*/results/*/scores.json")  # other settings:
    # refused once a round has scored (nothing of it reused under settings it was not made by)
    device = resolve_device(cfg.device)
    rounds = [round_zero(run_dir / "round-0", model, vocab, held, decode, device, ckpt.path)]
    parent = ckpt.path
    for r in range(1, pseudo.rounds + 1):
        rdir = run_dir / f"round-{r}"
        labels = round_labels(rdir, model, vocab, unlabelled, device, train_cfg)
        kept, dropped = select(labels, pseudo)
        if not kept:
            raise UserError(f"round {r}: no transcript kept ({dropped}); lower "
                            f"pseudo.threshold (now {pseudo.threshold})")
        record = {"round": r, "utterances": len(labels), "kept": len(kept), "dropped": dropped,
                  "mean_confidence_kept": round(sum(k.confidence for k in kept) / len(kept), 4),
                  "settings": asdict(pseudo)}
        write_json_atomic(rdir / "pseudo.json", record)
        corpus = CutsCorpus(eval_lang, "pseudo", rdir / "pseudo",
                            {"train": pseudo_cuts(unlabelled, kept), "dev": held.cuts("dev"),
                             "test": held.cuts("test")})
        torch.manual_seed(cfg.seed + r)
        student = build_model(model.cfg)
        student.load_state_dict(model.state_dict())  # round N-1's model, trained on
        out = train_and_score(rdir, corpus, vocab, student, train_cfg, decode, device,
                              cfg.seed + r, run_meta(corpus, vocab, student, config,
                                                     str(parent)))
        best = load_checkpoint(rdir)
        model, parent = best.model, best.path
        rounds.append({**record, "test": headline(out["scores"]["test"])})
        log.info("round %d: kept %d of %d, test CER %.3f", r, len(kept), len(labels),
                 out["scores"]["test"]["cer"])
    write_json_atomic(run_dir / "rounds.json", {"unlabelled": unlabelled_name,
                                                "eval": eval_lang, "rounds": rounds})
    for row in rounds:
        kept = f"{row['kept']:>5} of {row['utterances']:<5}" if row["round"] else " " * 14
        print(f"round {row['round']}: {kept} test WER {row['test']['wer_percent']:.1f}% "
              f"CER {row['test']['cer_percent']:.1f}%")


def round_zero(rdir: Path, model, vocab, held, decode: DecodeConfig, device, path) -> dict:
    """The checkpoint as it is, on ``eval``'s test split (greedy), once."""
    f = rdir / "results" / "test" / "scores.json"
    if not f.is_file():
        score_splits(rdir, "", model, vocab, held, [], replace(decode, beam=False), device,
                     {"checkpoint": str(path)})
    return {"round": 0, "test": headline(json.loads(f.read_text(encoding="utf-8")))}


def headline(scores: dict) -> dict:
    """The scores a round is judged by (not the decoding's speed, which varies by run)."""
    return {k: scores[k] for k in ("wer", "cer", "wer_percent", "cer_percent", "num_utts")}


def round_labels(rdir: Path, model, vocab, cuts, device, train_cfg: TrainConfig) -> list[Label]:
    """Round ``rdir``'s transcripts: read back when the round began before (a resumed round
    trains on the same ones), else made by the model of the round before and saved."""
    f = rdir / "labels.tsv"
    if f.is_file():
        rows = [ln.split("\t") for ln in f.read_text(encoding="utf-8").splitlines()]
        return [Label(i, text, float(c)) for i, c, text in rows]
    labels = transcribe(model, vocab, cuts, device, train_cfg.eval_batch_duration_s)
    rdir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(f, "".join(f"{x.id}\t{x.confidence}\t{x.text}\n" for x in labels))
    return labels


if __name__ == "__main__":
    check_overrides("pseudo_label")
    main()
