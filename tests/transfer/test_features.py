"""strategy=features: a frozen encoder read by new layers through last, all (weighted sum of
every layer) or fne (standardised on the target's frames) features."""

from __future__ import annotations

import pytest
import torch

from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.transfer.copy import copy_layers
from asrtl.transfer.features import fit_fne_statistics
from asrtl.transfer.strategies import FeaturesConfig, StrategyConfig, apply_strategy

TINY = dict(name="t", dim=32, num_layers=2, heads=2, ffn_dim=64, subsampling_channels=8)


def _pair(layers: str, vocab_size: int = 6):
    torch.manual_seed(0)
    source = build_model(ModelConfig(**TINY, vocab_size=vocab_size))
    target = build_model(ModelConfig(**TINY, vocab_size=vocab_size,
                                     **FeaturesConfig(layers=layers).model_fields()))
    return source, target


@pytest.mark.parametrize("layers", ["last", "all", "fne"])
def test_the_source_encoder_is_frozen_and_the_new_layers_train(layers):
    source, target = _pair(layers)
    assert target.layer_names()[-4:] == ["featurizer", "downstream.layers.0",
                                         "downstream.layers.1", "head"]
    report = copy_layers(source, target)
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[name], tensor)  # every source tensor
    strategy = StrategyConfig.from_dict({"name": "features", "trainable": "new",
                                         "features": {"layers": layers}})
    apply_strategy(target, strategy, report.layers)
    trains = {n.split(".")[0] for n, p in target.named_parameters() if p.requires_grad}
    assert trains == {"featurizer", "downstream", "head"} - ({"featurizer"} if layers == "last"
                                                             else set())


def test_all_layers_are_weighed_and_the_weights_reported():
    _, target = _pair("all")
    assert target.featurizer.layer_weights() == [pytest.approx(1 / 3, abs=1e-4)] * 3
    feats = torch.randn(2, 40, 80)
    out, lens = target(feats, torch.tensor([40, 30]))
    out.sum().backward()
    assert target.featurizer.weights.grad.abs().sum() > 0  # the weights learn


def test_fne_standardises_with_the_targets_frames(tiny_corpora):
    _, target = _pair("fne")
    cuts = tiny_corpora["turkish"].cuts("dev")
    vocab = Vocabulary.from_texts(["abc"])
    fit_fne_statistics(target, cuts, vocab, torch.device("cpu"))
    f = target.featurizer
    assert f.mean.shape == (3, 32) and (f.std > 0).all() and f.mean.abs().sum() > 0
    # standardised with those statistics, the frames average to ~0, spread ~1
    from asrtl.data.loader import BatchDataset, eval_batches
    from asrtl.models.factory import input_transform

    batch = next(iter(BatchDataset(cuts, eval_batches(cuts, 1000.0), vocab)))
    target.eval()  # as the statistics were taken: no dropout
    with torch.no_grad():
        x, lens = target.frontend(*input_transform(target.cfg)(batch.wavs, batch.wav_lens))
        states = target.encoder.states(x, lens)
    mask = torch.arange(x.shape[1])[None] < lens[:, None]
    z = (states[-1][mask] - f.mean[-1]) / f.std[-1]
    assert z.mean().abs() < 0.05 and (z.std() - 1).abs() < 0.05


def test_bad_feature_settings_fail_in_one_line():
    with pytest.raises(UserError, match="strategy.features.layers must be last, all or fne"):
        StrategyConfig.from_dict({"features": {"layers": "middle"}})
    with pytest.raises(UserError, match="strategy.features.downstream_layers must be >= 0"):
        StrategyConfig.from_dict({"features": {"downstream_layers": -1}})
    with pytest.raises(UserError, match="model.featurizer=all is for the fbank encoders"):
        ModelConfig(encoder="wav2vec2", featurizer="all")


def test_the_top_level_features_layers_key():
    from asrtl.transfer.strategies import with_feature_layers

    features = StrategyConfig.from_dict({"name": "features", "trainable": "new",
                                         "features": {"layers": "all"}})
    assert with_feature_layers(features, "fne").features.layers == "fne"
    assert with_feature_layers(features, None) is features
    with pytest.raises(UserError, match="features.layers must be last, all or fne, got 'x'"):
        with_feature_layers(features, "x")
    with pytest.raises(UserError, match="features.layers=all needs strategy=features"):
        with_feature_layers(StrategyConfig(), "all")
