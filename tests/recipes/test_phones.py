"""units=phones through the recipes: a tiny Turkish phone model that learns, its records and
results, a transfer to Bengali through the phone head (another script, most phones shared),
and units that do not match failing in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asrtl.data.manifest import cut_words
from tests.conftest import API_TRAIN, TINY_DATA, _run, _run_here, reached, record

PHONE_STOP = 0.8  # dev phone error rate the tiny model trains to (40 epochs at most)


@pytest.fixture(scope="module")
def phone_run(tiny_corpora, cache_dir, tmp_path_factory) -> Path:
    exp = tmp_path_factory.mktemp("exp-phones")
    args = [a for a in API_TRAIN if not a.startswith("train.stop_cer=")]
    res = _run("pretrain", *args, "units=phones", f"train.stop_cer={PHONE_STOP}",
               f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "turkish test greedy: WER" in res.stdout and " PER " in res.stdout, res.stdout
    return exp / "pretrain" / "turkish-phones"


@pytest.mark.learning
def test_a_phone_model_learns(phone_run):
    rows = reached(phone_run, PHONE_STOP, "phone_run")
    assert rows[-1]["valid_cer"] < rows[0]["valid_cer"]
    test = json.loads((phone_run / "results/test/scores.json").read_text())
    record("phones", dev_per=rows[-1]["valid_cer"], test_per=test["per"], epochs=len(rows))
    assert test["per"] < 0.9, test  # off the all-blank plateau (PER 1.0) on the test split


def test_phone_run_records_and_results(phone_run, tiny_corpora):
    best = json.loads((phone_run / "checkpoints/best.json").read_text())["name"]
    meta = json.loads((phone_run / "checkpoints" / best / "meta.json").read_text())
    assert meta["units"] == "phones" and "tʃ" in meta["vocab"]
    assert all(len(t) <= 4 for t in meta["vocab"][3:])  # phones, not words
    scores = json.loads((phone_run / "results/test/scores.json").read_text())
    assert scores["units"] == "phones" and scores["per"] == scores["cer"]
    assert scores["num_phones"] > scores["num_words"] > 0
    tokens = set(meta["vocab"])
    for line in (phone_run / "results/test/hyps.txt").read_text().splitlines():
        assert set(line.split("\t")[1].split()) <= tokens
    # the beam search spells the training words by their phones and writes words
    beam = json.loads((phone_run / "results/test-beam/scores.json").read_text())
    assert beam["units"] == "words from phones" and beam["lexicon_words"] > 50
    lexicon = set(cut_words(tiny_corpora["turkish"].cuts("train")))  # written Turkish
    hyps = [ln.split("\t")[1] for ln in
            (phone_run / "results/test-beam/hyps.txt").read_text().splitlines()]
    assert any(hyps) and all(set(h.split()) <= lexicon for h in hyps)


def test_decode_of_a_phone_model_scores_phones(phone_run, cache_dir):
    res = _run_here("decode", f"checkpoint={phone_run}", "split=dev", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    dev = json.loads((phone_run / "results/dev/scores.json").read_text())
    assert dev["units"] == "phones" and " PER " in res.stdout
    best = min(r["valid_cer"] for r in reached(phone_run, PHONE_STOP, "phone_run"))
    assert dev["per"] == pytest.approx(best, abs=0.01)  # the loop's dev PER, recomputed


def test_transfer_through_the_phone_head_to_another_script(phone_run, cache_dir, tmp_path):
    res = _run("transfer", "source=from-checkpoint", f"source_checkpoint={phone_run}",
               "target=bengali", "units=phones", "model=tiny", "train.epochs=1",
               "train.num_workers=0", "train.batch_duration_s=12", "target_hours=0.02",
               "decode.beam=false", f"exp_dir={tmp_path}", *TINY_DATA, cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "transfer" / "ckpt-turkish-phones-to-bengali" / "finetune-phones"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["units"] == "phones" and " PER " in res.stdout
    head = json.loads((run / "copy_report.json").read_text())["head"]
    # Latin and Bengali script share no letter; their phones mostly coincide
    assert head["token_coverage"] > 0.5 and head["text_coverage"] > 0.8, head


def test_units_that_do_not_match_fail_in_one_line(phone_run, cache_dir, tmp_path):
    cases = [
        (("pretrain", "language=turkish", "units=runes", f"exp_dir={tmp_path}"),
         "units: 'runes' is not one of ['chars', 'phones']"),
        (("transfer", "source=from-checkpoint", f"source_checkpoint={phone_run}",
          "target=bengali", f"exp_dir={tmp_path}", *TINY_DATA),
         "has phones units, the target units=chars"),
        (("rank", "target=t.jsonl.gz", "sources=[turkish,bengali]", "units=phones",
          f"exp_dir={tmp_path}"), "units=phones needs a target language to phonemise"),
        (("pretrain", "language=turkish", "model.head=attributes", f"exp_dir={tmp_path}"),
         "model.head=attributes composes phones"),
    ]
    for (recipe, *args), needle in cases:
        res = _run_here(recipe, *args, cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and lines[-1].startswith("error: "), (args,
                                                                                    res.stderr)
        assert needle in lines[-1], (args, lines[-1])
