"""AdaptConfig: the typed settings of a speaker-adaptation method, and its defaults against
conf/speaker_adapt.yaml and conf/method/*.yaml."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hydra import compose, initialize_config_dir
from lhotse import CutSet

from asrtl.adapt.config import AdaptConfig
from asrtl.adapt.methods import METHODS
from asrtl.adapt.run import adapt
from asrtl.cli import CONF_DIR

# what each method chooses for itself; every other setting a method YAML gives is shared
OWN = ("name", "steps", "lr", "early_stop")


def _method(name: str | None = None):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        overrides = ["checkpoint=x"] + ([f"method={name}"] if name else [])
        return compose("speaker_adapt", overrides=overrides).method


def test_every_method_yaml_is_an_adapt_config():
    files = sorted(p.stem for p in (CONF_DIR / "method").glob("*.yaml"))
    assert files == sorted(METHODS)
    for name in files:
        cfg = AdaptConfig.from_dict(_method(name))
        assert cfg.name == name


def test_defaults_equal_the_yaml_values():
    assert AdaptConfig.from_dict(_method()) == AdaptConfig()  # the default method: lhuc
    default = AdaptConfig()
    for name in METHODS:
        for key, value in _method(name).items():
            if key not in OWN:  # layers, kl_weight, eval_every, spec_augment
                assert getattr(default, key) == value, (name, key)


@pytest.mark.parametrize("settings, needle", [
    ({"stepz": 5}, "unknown method setting(s) method.stepz; known: name, steps"),
    ({"steps": "many"}, "method.steps: expected an integer, got 'many'"),
    ({"layers": 2.5}, "method.layers: expected an integer, got 2.5"),
    ({"steps": True}, "method.steps: expected an integer, got True"),
    ({"lr": "fast"}, "method.lr: expected a number, got 'fast'"),
    ({"spec_augment": "yes"}, "method.spec_augment: expected true or false, got 'yes'"),
    ({"kl_weight": 1.5}, "method.kl_weight must be in [0, 1], got 1.5"),
    ({"lr": 0}, "method.lr must be > 0, got 0.0"),
    ({"eval_every": 0}, "method.eval_every must be >= 1, got 0"),
    ({"name": "magic"}, "unknown adaptation method 'magic'; known: lhuc"),
])
def test_bad_settings_fail_in_one_line_naming_the_key(settings, needle):
    with pytest.raises(ValueError) as e:
        AdaptConfig.from_dict(settings)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_types_are_kept_and_the_config_is_frozen():
    cfg = AdaptConfig.from_dict({"name": "finetune_lower", "steps": 10.0, "lr": 1})
    assert (cfg.steps, cfg.lr) == (10, 1.0)
    assert type(cfg.steps) is int and type(cfg.lr) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3  # type: ignore[misc]
    assert AdaptConfig.from_dict(cfg.to_dict()) == cfg


def test_adapt_takes_a_partial_node_and_checks_the_method_name():
    with pytest.raises(ValueError, match="method.name='kl' but the method is 'lhuc'"):
        adapt(torch.nn.Module(), None, CutSet.from_cuts([]), "lhuc", AdaptConfig(name="kl"),
              torch.device("cpu"))
    with pytest.raises(ValueError, match="method.steps: expected an integer"):
        adapt(torch.nn.Module(), None, CutSet.from_cuts([]), "lhuc", {"steps": "x"},
              torch.device("cpu"))
