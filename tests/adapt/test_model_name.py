"""The one name of a trained model: exp/adapt/<model>/<method>/, decode/<model>, export/<model>,
transcribe/<model>, a transfer from it (ckpt-<model>)."""

from __future__ import annotations

import pytest

from asrtl.layout import model_name, source_name


@pytest.mark.parametrize("checkpoint, name", [
    ("exp/pretrain/turkish", "turkish"),
    ("exp/transfer/assamese-to-bengali/finetune", "assamese-to-bengali-finetune"),
    ("exp/transfer/assamese-to-bengali/finetune/", "assamese-to-bengali-finetune"),
    ("exp/transfer/ckpt-run-to-bengali/chain_thaw", "ckpt-run-to-bengali-chain_thaw"),
    ("exp/pretrain/turkish/checkpoints/step-000400", "turkish-step-000400"),
    ("exp/pretrain/turkish/checkpoints", "turkish"),
    ("exp/multilingual/assamese+thai", "multilingual-assamese+thai"),
    ("exp/study/s1/pretrain/turkish-0.6h", "study-s1-pretrain-turkish-0.6h"),
    ("elsewhere/exp/transfer/a-to-b/finetune", "a-to-b-finetune"),  # another exp_dir
    ("/models/english", "english"),
    ("/models/xlsr_300m.pth", "xlsr_300m"),
    ("exp/pretrain/turkish/checkpoints/step-000400/model.safetensors", "turkish-step-000400"),
])
def test_names_identify_the_model(tmp_path, monkeypatch, checkpoint, name):
    monkeypatch.chdir(tmp_path)
    assert model_name(checkpoint, "exp") == name
    assert model_name(tmp_path / checkpoint, tmp_path / "exp") == name  # absolute paths too


def test_two_strategies_of_one_transfer_get_two_names():
    names = {model_name(f"exp/transfer/assamese-to-bengali/{s}", "exp")
             for s in ("finetune", "frozen_head", "chain_thaw")}
    assert len(names) == 3


def test_without_exp_dir_the_run_kind_anchors_the_name():
    assert model_name("/data/old/exp/transfer/a-to-b/finetune") == "a-to-b-finetune"
    assert model_name("/data/exp/multilingual/a+b/checkpoints/step-000010") == \
        "multilingual-a+b-step-000010"
    # transfers from two strategies' checkpoints of one run no longer share a directory
    assert source_name("from-checkpoint", "exp/transfer/a-to-b/finetune") != \
        source_name("from-checkpoint", "exp/transfer/c-to-b/finetune")
