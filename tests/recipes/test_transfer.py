"""recipes/transfer.py as a user runs it, on the tiny two-language corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SEED, TINY_DATA, _run, _run_here, record

# Source pretraining and target adaptation share these settings (the recipe pretrains the
# missing source with the same train config).
COMMON = ["model=tiny", "train.epochs=12", "train.batch_duration_s=12", "train.lr=3e-3",
          "train.warmup_steps=20", "train.num_workers=0", "decode.beam=false",
          "target_hours=0.02", "source_hours=0.06", f"seed={SEED}", *[a for a in TINY_DATA
                                                      if not a.startswith("data.hours")]]


@pytest.fixture(scope="module")
def runs(tiny_corpora, cache_dir, tiny_exp) -> dict[str, Path]:
    exp = tiny_exp
    out = {}
    for source in ("none", "assamese"):  # scratch first: the transfer compares itself with it
        res = _run("transfer", f"source={source}", "target=bengali", f"exp_dir={exp}", *COMMON,
                   cache=cache_dir)
        assert res.returncode == 0, res.stderr[-3000:]
        out[source] = exp / "transfer" / f"{source}-to-bengali" / "finetune"
    out["exp"] = exp
    return out


def _summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.mark.learning
def test_related_language_transfer_beats_scratch(runs):
    transfer, scratch = _summary(runs["assamese"]), _summary(runs["none"])
    assert transfer["target_hours"] == scratch["target_hours"] == 0.02
    assert transfer["steps"] == scratch["steps"]
    record("transfer", transfer_cer=transfer["cer"], scratch_cer=scratch["cer"])
    assert transfer["cer"] < scratch["cer"] - 0.1, (transfer["cer"], scratch["cer"])


def test_summary_and_copy_report(runs):
    s = _summary(runs["assamese"])
    for key in ("source", "target", "strategy", "source_hours", "target_hours", "wer", "cer",
                "epochs", "wall_s", "device"):
        assert key in s, key
    assert s["source_hours"] == 0.06 and s["strategy"] == "finetune"
    scratch = _summary(runs["none"])
    assert s["vs_scratch"]["run"].endswith("none-to-bengali/finetune")
    assert s["vs_scratch"]["cer_points"] == round(s["cer_percent"] - scratch["cer_percent"], 2)
    assert scratch["vs_scratch"] is None
    assert (runs["exp"] / "pretrain" / "assamese-0.06h" / "results/test/scores.json").is_file()
    report = json.loads((runs["assamese"] / "copy_report.json").read_text())
    assert report["layers"][-1] == "head" and not report["reinitialised"]
    assert report["head"]["token_coverage"] > 0.8  # one script, most letters shared
    scratch = json.loads((runs["none"] / "copy_report.json").read_text())
    assert not scratch["copied"] and scratch["head"] is None


def test_features_strategy_reads_every_layer_of_the_frozen_source(runs, cache_dir, tmp_path):
    src = runs["exp"] / "pretrain" / "assamese-0.06h"
    res = _run("transfer", "target=bengali", f"source_checkpoint={src}", "strategy=features",
               *COMMON, "train.epochs=1", f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / "transfer" / "ckpt-assamese-0.06h-to-bengali" / "features"
    summary = json.loads((run / "summary.json").read_text())
    weights = summary["layer_weights"]  # the frontend's output and the 3 tiny layers'
    assert len(weights) == 4 and len(set(weights)) > 1  # learned: no longer uniform
    report = json.loads((run / "copy_report.json").read_text())
    assert any(n.startswith("encoder.layers.2.") for n in report["frozen"])
    assert not any(n.startswith(("featurizer", "downstream", "head")) for n in report["frozen"])
    res = _run_here("transfer", "target=bengali", f"source_checkpoint={src}",
                    "features.layers=all", *COMMON, f"exp_dir={tmp_path}/bad", cache=cache_dir)
    assert res.returncode == 2 and "needs strategy=features" in res.stderr.strip().splitlines()[-1]


def test_progressive_column_from_a_source(runs, cache_dir, tmp_path):
    exp = runs["exp"]  # the assamese source is pretrained there
    res = _run("transfer", "target=bengali", "strategy=progressive", "sources=[assamese]",
               *COMMON, "train.epochs=1", f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    run = exp / "transfer" / "assamese-to-bengali" / "progressive"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["source"] == "assamese" and len(summary["laterals"]["assamese"]) == 3
    report = json.loads((run / "copy_report.json").read_text())
    assert any(c.startswith("columns.0 (frontend, encoder of") for c in report["copied"])
    assert all(not n.startswith("columns.") for n in report["reinitialised"])
    for args, needle in ((["sources=[assamese]"], "is for strategy=progressive"),
                         (["strategy=progressive", "sources=[assamese,assamese]"],
                          "names a language twice")):
        bad = _run_here("transfer", "target=bengali", *args, *COMMON,
                        f"exp_dir={tmp_path}/{len(args)}", cache=cache_dir)
        assert bad.returncode == 2 and needle in bad.stderr.strip().splitlines()[-1], args


def test_frozen_strategy_and_bad_inputs(runs, cache_dir, tmp_path):
    exp = runs["exp"]
    src = exp / "pretrain" / "assamese-0.06h"
    cases = [  # the source already trained: each case fails before any training
        ([f"source_checkpoint={src}", "transfer.layers=[encoder.layers.9]"],
         "unknown layer(s) ['encoder.layers.9']"),
        ([f"source_checkpoint={src}", "strategy=frozen", "strategy.trainable=[]"],
         "nothing to train"),
        ([f"source_checkpoint={src}", "model=small"], "another architecture than model=small"),
        (["source=lao"], "closest available relative is 'thai'"),
    ]
    for args, needle in cases:
        res = _run_here("transfer", "target=bengali",
                        f"exp_dir={tmp_path}/{len(args)}{needle[:3]}",
                   *COMMON, *args, cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and needle in lines[-1], (args, res.stderr[-800:])
    # a transfer from a checkpoint is named after the checkpoint's run
    assert list((tmp_path / "2unk" / "transfer").iterdir())[0].name == \
        "ckpt-assamese-0.06h-to-bengali"
