"""Typed settings: every preset YAML loads into its dataclass, the dataclass defaults equal the
YAML (the source of the user-facing defaults), and bad settings fail in one line naming the
key. No model is trained: a few seconds in all."""

from __future__ import annotations

from dataclasses import asdict, fields

import pytest
import torch
from omegaconf import OmegaConf

from asrtl.cli import CONF_DIR
from asrtl.eval.config import SEARCHES, DecodeConfig, check_search
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.train.loop import TrainConfig
from asrtl.transfer.strategies import (
    DiscriminativeConfig,
    PeftConfig,
    StrategyConfig,
    apply_strategy,
)

MODEL_PRESETS = sorted((CONF_DIR / "model").glob("*.yaml"))
STRATEGY_PRESETS = sorted((CONF_DIR / "strategy").glob("*.yaml"))
# the primary configs whose ``decode:`` is the scoring after training (a mapping)
DECODE_MAPPINGS = {f.stem: OmegaConf.load(f).decode for f in sorted(CONF_DIR.glob("*.yaml"))
                   if OmegaConf.is_dict(OmegaConf.load(f).get("decode"))}
# values that differ from DecodeConfig() on purpose: rank.yaml pretrains sources only to
# rank them, so it skips the (slow) beam search
DECODE_DIFFERS = {"rank": {"beam": False},
                  "pseudo_label": {"beam": False}}  # its pseudo-labelled lexicon is noise


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# ModelConfig

def test_model_defaults_are_the_small_preset():
    small = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "small.yaml"))
    defaults = asdict(ModelConfig())
    assert {k: defaults[k] for k in small} == small
    assert ModelConfig.from_dict(small) == ModelConfig()


@pytest.mark.parametrize("path", MODEL_PRESETS, ids=lambda p: p.stem)
def test_every_model_preset_loads(path):
    cfg = ModelConfig.from_dict(OmegaConf.load(path))
    assert cfg.name == path.stem
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg  # meta.json round trip


# TrainConfig

def test_train_defaults_are_the_default_preset():
    preset = OmegaConf.load(CONF_DIR / "train" / "default.yaml")
    assert TrainConfig.from_dict(preset) == TrainConfig()


@pytest.mark.parametrize("node", [OmegaConf.create("amp: off"), {"amp": False}, {"amp": None},
                                  {"amp": "off"}])
def test_amp_off_however_yaml_or_hydra_spell_it(node):
    """``amp: off`` in YAML and ``train.amp=false`` on the command line arrive as ``False``,
    ``train.amp=null`` as ``None``: all are ``off``, as before the settings were typed."""
    assert TrainConfig.from_dict(node).amp == "off"


@pytest.mark.parametrize("bad, needle", [
    ({"epochz": 3}, "unknown train setting(s) train.epochz; known: epochs, lr,"),
    ({"epochs": "many"}, "train.epochs: expected an integer, got 'many'"),
    ({"lr": "fast"}, "train.lr: expected a number, got 'fast'"),
    ({"spec_augment": "yes"}, "train.spec_augment: expected true or false, got 'yes'"),
    ({"select": "bleu"}, "train.select must be one of wer, cer, loss, got 'bleu'"),
    ({"epochs": 0}, "train.epochs must be > 0, got 0"),
])
def test_bad_train_settings_fail_in_one_line(bad, needle):
    with pytest.raises(ValueError) as e:
        TrainConfig.from_dict(bad)
    assert needle in _one_line(e)


# DecodeConfig

def test_the_training_recipes_have_decode_mappings():
    assert {"pretrain", "transfer", "multilingual", "rank"} <= set(DECODE_MAPPINGS)


@pytest.mark.parametrize("name", sorted(DECODE_MAPPINGS))
def test_decode_defaults_are_the_yaml(name):
    loaded = DecodeConfig.from_dict(DECODE_MAPPINGS[name])
    assert set(DECODE_MAPPINGS[name]) == {f.name for f in fields(DecodeConfig)}
    differs = DECODE_DIFFERS.get(name, {})
    assert {k: v for k, v in asdict(loaded).items() if k not in differs} == {
        k: v for k, v in asdict(DecodeConfig()).items() if k not in differs}
    for key, value in differs.items():
        assert getattr(loaded, key) == value != getattr(DecodeConfig(), key)


def test_decode_config_converts_hydra_nodes():
    cfg = DecodeConfig.from_dict(OmegaConf.create({"splits": ["dev", "test"], "beam": False,
                                                   "beam_size": 8}))
    assert cfg == DecodeConfig(splits=("dev", "test"), beam=False, beam_size=8)
    assert DecodeConfig.from_dict(cfg) is cfg
    assert DecodeConfig.from_dict({}) == DecodeConfig()
    assert DecodeConfig.from_dict({"splits": "dev"}).splits == ("dev",)


@pytest.mark.parametrize("bad, needle", [
    ({"beams": 3}, "decode.beams"),
    ({"beam": "yes"}, "decode.beam"),
    ({"beam_size": 2.5}, "decode.beam_size"),
    ({"beam_size": 0}, "decode.beam_size"),
    ({"splits": [1]}, "decode.splits"),
    ({"splits": ["tset"]}, "decode.splits"),
    ({"splits": ["test", "test"]}, "decode.splits"),
    ("beam", "decode.beam=true"),
    (["test"], "decode must be a mapping"),
])
def test_bad_decode_settings_fail_in_one_line(bad, needle):
    with pytest.raises(ValueError) as e:
        DecodeConfig.from_dict(bad)
    assert needle in _one_line(e)


def test_search_is_greedy_or_beam():
    for name in ("decode", "transcribe"):
        assert check_search(OmegaConf.load(CONF_DIR / f"{name}.yaml").decode) in SEARCHES
    assert [check_search(s) for s in SEARCHES] == list(SEARCHES)
    for bad in ("viterbi", None, {"beam": True}):
        with pytest.raises(ValueError) as e:
            check_search(bad)
        assert "decode must be greedy or beam" in _one_line(e)


# StrategyConfig

def test_strategy_defaults_are_the_finetune_preset():
    preset = OmegaConf.load(CONF_DIR / "strategy" / "finetune.yaml")
    assert StrategyConfig.from_dict(preset) == StrategyConfig()


@pytest.mark.parametrize("path", STRATEGY_PRESETS, ids=lambda p: p.stem)
def test_every_strategy_preset_loads(path):
    preset = OmegaConf.load(path)
    cfg = StrategyConfig.from_dict(preset)
    assert cfg.name == path.stem
    assert list(cfg.freeze) == list(preset.freeze)
    assert (cfg.peft is None) == (preset.peft is None)
    if cfg.peft is not None:
        assert asdict(cfg.peft) == {**asdict(PeftConfig()), **preset.peft}
    if cfg.discriminative is not None:
        assert cfg.discriminative == DiscriminativeConfig(**preset.discriminative)
    assert (cfg.stages, cfg.schedule, cfg.stage_epochs) == (
        preset.stages, preset.schedule, preset.stage_epochs)


def test_strategy_config_converts_hydra_nodes():
    cfg = StrategyConfig.from_dict(OmegaConf.create({
        "name": "x", "trainable": ["encoder.layers.2", "head"], "freeze": None,
        "peft": {}, "discriminative": {"decay": 1}, "stage_epochs": 2}))
    assert cfg == StrategyConfig(name="x", trainable=("encoder.layers.2", "head"),
                                 discriminative=DiscriminativeConfig(decay=1.0),
                                 stage_epochs=2)
    assert StrategyConfig.from_dict(cfg) is cfg


@pytest.mark.parametrize("bad, needle", [
    ({"trainabel": "all"}, "strategy.trainabel"),
    ({"trainable": "some"}, "strategy.trainable"),
    ({"trainable": 3}, "strategy.trainable"),
    ({"stages": "head_last"}, "strategy.stages"),
    ({"trainable": "peft", "peft": {"adapter_dim": 8}, "stages": "chain_thaw"},
     "strategy.stages=null"),
    ({"peft": {"adapter_size": 8}}, "strategy.peft.adapter_size"),
    ({"peft": {"lora_rank": 2.5}}, "strategy.peft.lora_rank"),
    ({"peft": 64}, "strategy.peft"),
    ({"freeze": "frontend"}, "strategy.freeze"),
    ({"discriminative": {"decay": 1.5}}, "strategy.discriminative.decay"),
    ({"discriminative": {"toward": "middle"}}, "strategy.discriminative.toward"),
    ({"discriminative": {"rate": 0.5}}, "strategy.discriminative.rate"),
    ({"schedule": "exponential"}, "strategy.schedule"),
    ({"stage_epochs": 0}, "strategy.stage_epochs"),
    ({"stage_epochs": "two"}, "strategy.stage_epochs"),
])
def test_bad_strategy_settings_fail_in_one_line(bad, needle):
    with pytest.raises(ValueError) as e:
        StrategyConfig.from_dict(bad)
    assert needle in _one_line(e)


def test_apply_strategy_takes_a_config_or_a_mapping():
    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model(ModelConfig(name="t", dim=32, num_layers=2, heads=2, ffn_dim=64,
                                       subsampling_channels=8, vocab_size=12))

    preset = OmegaConf.load(CONF_DIR / "strategy" / "chain_thaw.yaml")
    a, b = model(), model()
    names = a.layer_names()
    typed = apply_strategy(a, StrategyConfig.from_dict(preset), names[:-1])
    mapped = apply_strategy(b, preset, names[:-1])
    assert typed["stages"] == mapped["stages"] and typed["frozen"] == mapped["frozen"]
    assert typed["stages"][0] == ["head"] and typed["stage_epochs"] == 1
