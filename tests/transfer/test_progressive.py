"""Progressive networks: frozen source columns, laterals that start at zero (the target
column starts as the model it copies), nothing of a column ever trains."""

from __future__ import annotations

import pytest
import torch

from asrtl.errors import UserError
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.models.progressive import lateral_strengths
from asrtl.train.checkpoint import Checkpoint
from asrtl.transfer.copy import copy_layers
from asrtl.transfer.progressive import check_columns, load_columns
from asrtl.transfer.strategies import StrategyConfig, apply_strategy

TINY = dict(name="t", dim=32, num_layers=2, heads=2, ffn_dim=64, subsampling_channels=8,
            vocab_size=6)


def _models(columns: int = 2):
    torch.manual_seed(0)
    sources = [build_model(ModelConfig(**TINY)) for _ in range(columns)]
    target = build_model(ModelConfig(**TINY, columns=columns))
    return sources, target


def test_the_target_starts_as_the_model_it_copies_and_the_columns_stay_frozen(tmp_path):
    sources, target = _models()
    report = copy_layers(sources[0], target)
    ckpts = [Checkpoint(tmp_path / f"s{k}", m, None) for k, m in enumerate(sources)]
    load_columns(target, ckpts, report)
    assert not any(n.startswith("columns.") for n in report.reinitialised)
    assert target.layer_names()[-2:] == ["laterals", "head"]
    feats, lens = torch.randn(2, 60, 80), torch.tensor([60, 45])
    target.eval(), sources[0].eval()
    torch.testing.assert_close(target(feats, lens)[0], sources[0](feats, lens)[0])
    apply_strategy(target, StrategyConfig.from_dict({"name": "progressive", "trainable": "all",
                                                     "progressive": True}), report.layers)
    assert not any(p.requires_grad for p in target.columns.parameters())
    before = {k: v.clone() for k, v in target.columns.state_dict().items()}
    target.train()
    opt = torch.optim.SGD([p for p in target.parameters() if p.requires_grad], lr=0.1)
    target(feats, lens)[0].sum().backward()
    opt.step()
    for k, v in target.columns.state_dict().items():
        assert torch.equal(v, before[k]), k
    strengths = lateral_strengths(target)
    assert len(strengths) == 2 and len(strengths[0]) == 2
    assert all(s > 0 for col in strengths for s in col)  # the laterals learned from zero


def test_columns_must_read_the_same_features(tmp_path):
    from asrtl.train.checkpoint import CheckpointMeta

    sources, _ = _models()
    a = Checkpoint(tmp_path / "a", sources[0], None,
                   meta=CheckpointMeta(1, sources[0].cfg.to_dict(), features={"hop": 160}))
    b = Checkpoint(tmp_path / "b", sources[1], None,
                   meta=CheckpointMeta(1, sources[1].cfg.to_dict(), features={"hop": 80}))
    check_columns([a, Checkpoint(tmp_path / "c", sources[1], None)])  # no record: the default
    with pytest.raises(UserError, match="progressive sources read different features"):
        check_columns([a, b])
    with pytest.raises(UserError, match="needs sources"):
        check_columns([])
    with pytest.raises(UserError, match="model.columns must be >= 0, for the fbank encoders"):
        ModelConfig(columns=1, encoder="wav2vec2")


def test_a_progressive_model_saves_and_loads_with_its_columns(tmp_path):
    from asrtl.train.checkpoint import load_checkpoint, save_checkpoint

    _, target = _models()
    with torch.no_grad():
        for p in target.laterals.parameters():
            p.normal_()
    path = save_checkpoint(tmp_path, "step-1", target, {"vocab": ["<blank>", "<unk>", "|", "a",
                                                                  "b", "c"]})
    loaded = load_checkpoint(path).model
    assert loaded.cfg.columns == 2 and not any(p.requires_grad for p in loaded.columns.parameters())
    feats, lens = torch.randn(1, 50, 80), torch.tensor([50])
    target.eval(), loaded.eval()
    torch.testing.assert_close(loaded(feats, lens)[0], target(feats, lens)[0])
