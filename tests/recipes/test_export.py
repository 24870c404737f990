"""recipes/export.py as a user runs it, on a checkpoint of a tiny model with random weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asrtl.data.features import FeatureConfig
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.multilingual.model import MultilingualCTC, checkpoint_meta
from asrtl.train.checkpoint import save_checkpoint
from tests.conftest import REPO, TINY_MODEL, _run_here


def _run(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    env = {"ASRTL_CACHE": str(tmp / "cache"), "PATH": "/usr/bin:/bin",
           "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([sys.executable, "recipes/export.py", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """``pretrain/turkish/checkpoints/step-000000`` with ``latest.json``, as training writes."""
    torch.manual_seed(0)
    vocab = Vocabulary.from_texts(["merhaba dünya"])
    model = CTCModel(ModelConfig(**TINY_MODEL, vocab_size=len(vocab)))
    run = tmp_path_factory.mktemp("exp") / "pretrain" / "turkish"
    meta = {"language": "turkish", "vocab": vocab.tokens, "parent": None,
            "features": FeatureConfig(num_mel_bins=model.cfg.num_mel_bins).to_dict(),
            "corpus": {"source": "embedded", "dir": "none"}, "config": {"seed": 0},
            "step": 0, "epoch": 0, "metrics": {}}
    save_checkpoint(run / "checkpoints", "step-000000", model, meta)
    (run / "checkpoints" / "latest.json").write_text(json.dumps({"name": "step-000000"}))
    return run


def test_export_writes_model_and_interface(run_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    res = _run(f"checkpoint={run_dir}", "format=onnx", f"exp_dir={tmp_path / 'exp'}",
               tmp=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = tmp_path / "exp" / "export" / "turkish"
    assert (out / "model.onnx").is_file()
    info = json.loads((out / "export.json").read_text())
    assert info["checkpoint"] == str(run_dir / "checkpoints" / "step-000000")
    assert info["language"] == "turkish" and info["vocab"][0] == "<blank>"
    assert [i["name"] for i in info["inputs"]] == ["wavs", "wav_lens"]
    assert res.stdout.startswith(f"onnx: {out / 'model.onnx'}")


def test_bad_inputs_fail_in_one_line(tmp_path):
    for args, expected in [
        ([f"checkpoint={tmp_path}"], "no asrtl checkpoint at"),
        ([f"checkpoint={tmp_path}", "format=tflite"], "format must be one of"),
        (["format=onnx"], "checkpoint=..."),
    ]:
        res = _run_here("export", *args, f"exp_dir={tmp_path / 'exp'}", cache=tmp_path / "cache")
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert res.returncode == 2 and len(errors) == 1, res.stderr[-2000:]
        assert expected in errors[0]
    assert not (tmp_path / "exp" / "export").exists()


def test_multilingual_checkpoint_needs_a_language(tmp_path):
    torch.manual_seed(0)
    vocabs = {"thai": Vocabulary.from_texts(["สวัสดี"]), "turkish": Vocabulary.from_texts(["iyi"])}
    model = MultilingualCTC(ModelConfig(**TINY_MODEL), vocabs)
    run = tmp_path / "multilingual" / "thai+turkish"
    meta = {**checkpoint_meta(vocabs), "parent": None, "features": FeatureConfig().to_dict(),
            "config": {}}
    save_checkpoint(run / "checkpoints", "step-000000", model, meta)
    (run / "checkpoints" / "latest.json").write_text(json.dumps({"name": "step-000000"}))
    exp = tmp_path / "exp"
    res = _run(f"checkpoint={run}", f"exp_dir={exp}", tmp=tmp_path)
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith(
        "error: checkpoint"), res.stderr[-2000:]
    assert "give language= one of thai, turkish" in res.stderr
    res = _run(f"checkpoint={run}", "language=thai", "format=torchscript", f"exp_dir={exp}",
               tmp=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads((exp / "export" / "multilingual-thai+turkish" / "thai"
                       / "export.json").read_text())
    assert info["language"] == "thai" and info["vocab"] == vocabs["thai"].tokens
