import pytest
import torch
from hydra import compose, initialize_config_dir

from asrtl.cli import CONF_DIR
from asrtl.models.ctc import CTCModel, ModelConfig, num_parameters


def _preset(name: str, vocab_size: int = 60) -> CTCModel:
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("pretrain", overrides=["language=turkish", f"model={name}"])
    return CTCModel(ModelConfig.from_dict({**cfg.model, "vocab_size": vocab_size}))


@pytest.mark.parametrize("name,low,high", [("tiny", 0.5e6, 1.5e6), ("small", 3e6, 7e6),
                                           ("base", 20e6, 40e6)])
def test_presets_have_their_sizes(name, low, high):
    assert low <= num_parameters(_preset(name)) <= high


def test_layers_have_stable_indexable_names():
    model = _preset("tiny")
    names = model.layer_names()
    assert names[0] == "frontend" and names[-1] == "head"
    assert names[1:-1] == [f"encoder.layers.{i}" for i in range(3)]
    params = dict(model.named_parameters())
    assert "head.weight" in params
    assert any(k.startswith("encoder.layers.2.") for k in params)


@pytest.mark.parametrize("encoder", ["conformer", "lstm"])
def test_padding_does_not_change_outputs(encoder):
    torch.manual_seed(0)
    model = CTCModel(ModelConfig(encoder=encoder, dim=32, num_layers=2, heads=2, ffn_dim=64,
                                 subsampling_channels=8, vocab_size=10, dropout=0.0)).eval()
    short = torch.randn(1, 60, 80)
    padded = torch.cat([short, torch.zeros(1, 40, 80)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 100, 80)])
    alone, n_alone = model(short, torch.tensor([60]))
    together, n = model(batch, torch.tensor([60, 100]))
    assert n.tolist() == [n_alone.item(), 24] and n_alone.item() == 14
    torch.testing.assert_close(together[0, :14], alone[0], atol=1e-4, rtol=1e-4)


def test_unknown_model_setting_is_named():
    with pytest.raises(ValueError, match=r"^unknown model setting\(s\) model.depth; known: "):
        ModelConfig.from_dict({"depth": 3})


@pytest.mark.parametrize("settings, needle", [
    ({"dim": "big"}, "model.dim: expected an integer, got 'big'"),
    ({"dropout": "lots"}, "model.dropout: expected a number, got 'lots'"),
    ({"conv_layers": [[512, 10]]}, "model.conv_layers[0]: expected a list [an integer, an "
                                   "integer, an integer], got [512, 10]"),
    ({"conv_bias": "no"}, "model.conv_bias: expected true or false, got 'no'"),
])
def test_badly_typed_model_settings_are_named(settings, needle):
    with pytest.raises(ValueError) as e:
        ModelConfig.from_dict(settings)
    assert str(e.value) == needle


def test_model_settings_from_json_compare_equal():
    """meta.json gives lists and integral floats: the same config as the dataclass's."""
    cfg = ModelConfig(encoder="wav2vec2", conv_layers=((32, 10, 5), (32, 3, 2)))
    again = ModelConfig.from_dict({**cfg.to_dict(), "dim": 144.0,
                                   "conv_layers": [[32, 10, 5], [32, 3, 2]]})
    assert again == cfg and type(again.dim) is int
