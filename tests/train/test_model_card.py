"""MODEL_CARD.md from a finished run: what it says is what the run's files say."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from asrtl import load_model
from asrtl.models.ctc import num_parameters
from asrtl.records import TransferSummary
from asrtl.train.model_card import write_model_card
from tests.helpers import fake_multilingual


@pytest.fixture(scope="module")
def run(api_run) -> Path:
    return api_run


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_card_of_a_pretraining_run(run, shared_clips):
    card_path = write_model_card(run)
    assert card_path == run / "MODEL_CARD.md"
    card = card_path.read_text(encoding="utf-8")
    front = _front_matter(card)
    assert front["language"] == ["tr"] and front["library_name"] == "asrtl"
    metrics = front["model-index"][0]["results"][0]["metrics"]
    for decode, results in (("greedy", "test"), ("beam", "test-beam")):
        scores = json.loads((run / "results" / results / "scores.json").read_text())
        got = {m["type"]: m["value"] for m in metrics if f"({decode})" in m["name"]}
        assert got == {"wer": scores["wer_percent"], "cer": scores["cer_percent"]}
        assert f"| {results} | {decode} | {scores['wer_percent']:.2f} |" in card
    model = load_model(run, device="cpu")
    assert f"| parameters | {num_parameters(model.model):,} " in card
    assert f"`checkpoints/{model.path.name}`" in card
    assert "Turkish speech" in card and "| turkish | embedded | 0.02" in card
    assert "None: trained from scratch" in card
    assert "eSpeak NG, which is GPL-3.0" in card and "User corpora" not in card
    # the usage example runs as written (on a real clip)
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    jfk = next(r["abspath"] for r in shared_clips if r["utt_id"] == "jfk_1")
    exec(code.replace("speech.wav", jfk), {"print": lambda *a: None})  # noqa: S102


def test_card_of_a_transfer_run(run, tmp_path):
    """A transfer run's layout (recipes/transfer.py): parent in meta.json, summary.json,
    copy_report.json."""
    best = json.loads((run / "checkpoints/best.json").read_text())["name"]
    target = tmp_path / "transfer" / "turkish-to-turkish" / "finetune"
    shutil.copytree(run / "checkpoints" / best, target / "checkpoints" / best)
    shutil.copy(run / "checkpoints/best.json", target / "checkpoints/best.json")
    shutil.copytree(run / "results", target / "results")
    shutil.copy(run / "run.json", target / "run.json")
    meta_file = target / "checkpoints" / best / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["parent"] = str(run / "checkpoints" / best)
    meta_file.write_text(json.dumps(meta))
    TransferSummary(source="turkish", target="turkish", strategy="finetune", wer=0.5, cer=0.2,
                    wer_percent=50.0, cer_percent=20.0, source_hours=0.1, target_hours=0.02,
                    copy="copied 70 tensors (frontend, head), re-initialised 0",
                    ).save(target / "summary.json")
    (target / "copy_report.json").write_text(json.dumps({
        "copied": ["head.weight"], "reinitialised": [], "frozen": [], "layers": ["head"],
        "head": {"mapped": ["<blank>", "a"], "new": ["b"], "init": "mean",
                 "token_coverage": 0.667, "text_coverage": 0.5}}))
    card = write_model_card(target).read_text(encoding="utf-8")
    assert "## Parent model (transfer)" in card
    assert f"- parent checkpoint: `{run / 'checkpoints' / best}`" in card
    assert "- parent language: turkish (embedded data)" in card
    assert "- strategy: finetune" in card and "- source hours: 0.1" in card
    assert "2 tokens mapped from the parent, 1 new (mean)" in card and "text 50%" in card
    assert "licence carry over" in card


def test_card_of_a_multilingual_run_on_user_corpora(tmp_path):
    fake_multilingual(tmp_path / "checkpoints", source="kaldi")
    (tmp_path / "results" / "a" / "test").mkdir(parents=True)
    (tmp_path / "results" / "a" / "test" / "scores.json").write_text(json.dumps(
        {"wer": 0.5, "cer": 0.25, "wer_percent": 50.0, "cer_percent": 25.0, "num_utts": 3,
         "decode": "greedy"}))
    card = write_model_card(tmp_path).read_text(encoding="utf-8")
    front = _front_matter(card)
    assert "language" not in front  # neither `a` nor `b` has an ISO code
    assert front["model-index"][0]["results"][0]["metrics"][0]["value"] == 50.0
    assert "multilingual CTC model" in card and "| a/test | greedy | 50.00 | 25.00 | 3 |" in card
    assert "| a | kaldi | not recorded |" in card
    assert "User corpora (kaldi)" in card and "eSpeak" not in card
    assert 'load_model("' + str(tmp_path) + '", language="a")' in card


def test_no_run_no_card(tmp_path):
    with pytest.raises(FileNotFoundError, match="no asrtl checkpoint"):
        write_model_card(tmp_path)
