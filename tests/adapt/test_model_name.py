"""The name an adapted model's base gets in exp/adapt/<name>/<method>/."""

from __future__ import annotations

import pytest

from asrtl.adapt.run import model_name


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
])
def test_names_identify_the_model(tmp_path, monkeypatch, checkpoint, name):
    monkeypatch.chdir(tmp_path)
    assert model_name(checkpoint, "exp") == name
    assert model_name(tmp_path / checkpoint, tmp_path / "exp") == name  # absolute paths too


def test_two_strategies_of_one_transfer_get_two_names():
    names = {model_name(f"exp/transfer/assamese-to-bengali/{s}", "exp")
             for s in ("finetune", "frozen_head", "chain_thaw")}
    assert len(names) == 3
