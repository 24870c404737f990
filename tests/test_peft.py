"""Adapters and LoRA (asrtl.models.peft) and the strategies that use them: peft, freeze,
head_first. Tiny models on random inputs: no audio, a few seconds in all."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import save_file

from asrtl.cli import CONF_DIR
from asrtl.eval.evaluate import ctc_loss
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.models.layers import freeze_frozen_norms, set_trainable
from asrtl.models.peft import add_peft, load_peft, peft_parameter_names, save_peft
from asrtl.train.loop import optimizer_groups
from asrtl.transfer.strategies import (
    apply_strategy,
    chain_thaw_stages,
    gradual_unfreeze_stages,
    head_first_stages,
)

CONFORMER = dict(name="tiny", encoder="conformer", dim=96, num_layers=3, heads=4, ffn_dim=384,
                 subsampling_channels=32, vocab_size=20)  # conf/model/tiny.yaml
WAV2VEC2 = dict(name="t", encoder="wav2vec2", dim=64, num_layers=2, heads=4, ffn_dim=128,
                conv_layers=[[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2],
                             [32, 2, 2], [32, 2, 2]], pos_conv_kernel=16, pos_conv_groups=4,
                vocab_size=20)
ARCHS = {"conformer": CONFORMER, "wav2vec2": WAV2VEC2}
PEFTS = {"adapter": {"adapter_dim": 16}, "lora": {"lora_rank": 4, "lora_alpha": 8.0},
         "both": {"adapter_dim": 8, "lora_rank": 2}}


def _model(arch: str, seed: int = 0, **peft) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig.from_dict({**ARCHS[arch], **peft}))


def _inputs(arch: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    if arch == "wav2vec2":  # raw waveforms (B, S)
        return torch.randn(2, 4800, generator=g), torch.tensor([4800, 3600])
    return torch.randn(2, 64, 80, generator=g), torch.tensor([64, 48])  # fbank (B, T, F)


def _outputs(model: torch.nn.Module, arch: str) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(*_inputs(arch))[0]


def _train(model: torch.nn.Module, arch: str, fit_kwargs: dict, steps: int = 3) -> None:
    """A few AdamW steps on a CTC loss, as fit does: its groups, frozen norms in eval."""
    opt = torch.optim.AdamW(optimizer_groups(model, fit_kwargs["param_groups"]), lr=1e-2)
    targets, target_lens = torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([3, 2])
    model.train()
    freeze_frozen_norms(model)
    for _ in range(steps):
        log_probs, out_lens = model(*_inputs(arch))
        ctc_loss(log_probs, out_lens, targets, target_lens).backward()
        opt.step()
        opt.zero_grad()


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _strategy(**kw) -> dict:
    return {"trainable": "all", "peft": None, "freeze": [], "discriminative": None,
            "schedule": None, "stages": None, "stage_epochs": 1, **kw}


def _error(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("peft", PEFTS)
@pytest.mark.parametrize("arch", ARCHS)
def test_adding_peft_changes_no_output(arch, peft):
    model = _model(arch)
    before = _outputs(model, arch)
    add_peft(model, **PEFTS[peft])
    names = peft_parameter_names(model)
    assert names and torch.equal(_outputs(model, arch), before)
    assert model.cfg.adapter_dim == PEFTS[peft].get("adapter_dim", 0)
    assert model.cfg.lora_rank == PEFTS[peft].get("lora_rank", 0)
    layers = "encoder.layers." if arch == "conformer" else "encoder.transformer.layers."
    assert all(n.startswith(layers) for n in names)
    if "adapter_dim" in PEFTS[peft]:
        assert f"{layers}0.adapter.down.weight" in names and f"{layers}1.adapter.up.bias" in names
    if "lora_rank" in PEFTS[peft]:
        attention = ([f"{layers}0.self_attn.parametrizations.in_proj_weight.0.lora_A",
                      f"{layers}0.self_attn.out_proj.parametrizations.weight.0.lora_B"]
                     if arch == "conformer" else
                     [f"{layers}0.attention.{p}.parametrizations.weight.0.lora_A"
                      for p in ("q_proj", "k_proj", "v_proj", "out_proj")])
        assert set(attention) <= set(names)


@pytest.mark.parametrize("peft", ["adapter", "lora"])
@pytest.mark.parametrize("arch", ARCHS)
def test_peft_strategy_trains_only_adapters_and_head(arch, peft):
    model = _model(arch)
    kwargs = apply_strategy(model, _strategy(trainable="peft", peft=PEFTS[peft]),
                            model.layer_names())
    names = set(peft_parameter_names(model))
    trained = names | {"head.weight", "head.bias"}
    assert set(kwargs["frozen"]) == {n for n, _ in model.named_parameters()} - trained
    assert kwargs["stages"] is None
    before = _snapshot(model)
    _train(model, arch, kwargs)
    after = model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved == trained  # every adapter/LoRA tensor and the head, nothing else
    assert any("running_mean" in k for k in before) == (arch == "conformer")  # norms checked


@pytest.mark.parametrize("arch", ARCHS)
def test_saved_adapters_reload_onto_a_fresh_base(arch, tmp_path):
    model = _model(arch)
    add_peft(model, adapter_dim=8, lora_rank=2)
    with torch.no_grad():
        for name in peft_parameter_names(model):
            dict(model.named_parameters())[name].normal_(std=0.1)  # as if trained
    expected = _outputs(model, arch)
    path = save_peft(model, tmp_path / "adapters" / "target.safetensors")
    base = _model(arch)  # the same base weights, no adapters
    assert not torch.equal(_outputs(base, arch), expected)
    load_peft(base, path)
    assert base.cfg == model.cfg and torch.equal(_outputs(base, arch), expected)
    with_adapters = _model(arch, seed=0, adapter_dim=8, lora_rank=2)  # adapters, not these
    load_peft(with_adapters, path)
    assert torch.equal(_outputs(with_adapters, arch), expected)


def test_saved_head_reloads_with_its_adapters(tmp_path):
    model = _model("conformer")
    kwargs = apply_strategy(model, _strategy(trainable="peft", peft={"adapter_dim": 16}),
                            model.layer_names())
    _train(model, "conformer", kwargs, steps=2)
    expected = _outputs(model, "conformer")
    only_adapters, with_head = tmp_path / "a.safetensors", tmp_path / "h.safetensors"
    save_peft(model, only_adapters)
    save_peft(model, with_head, with_head=True)
    first, second = _model("conformer"), _model("conformer")
    load_peft(first, only_adapters)
    load_peft(second, with_head)
    assert not torch.equal(_outputs(first, "conformer"), expected)  # the head trained too
    assert torch.equal(_outputs(second, "conformer"), expected)
    assert only_adapters.stat().st_size < 0.1 * sum(
        p.numel() * 4 for p in model.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_checkpoint_config_rebuilds_the_same_adapters(arch):
    model = _model(arch)
    add_peft(model, adapter_dim=16, lora_rank=4, lora_alpha=8.0)
    rebuilt = build_model(model.cfg)  # what loading a checkpoint does with meta.json
    assert peft_parameter_names(rebuilt) == peft_parameter_names(model)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(_outputs(rebuilt, arch), _outputs(model, arch))


def test_trainable_parameter_counts_of_the_tiny_conformer():
    counts = {}
    for peft in ({"adapter_dim": 64}, {"lora_rank": 8}):
        model = _model("conformer")
        total = sum(p.numel() for p in model.parameters())
        apply_strategy(model, _strategy(trainable="peft", peft=peft), model.layer_names())
        counts[next(iter(peft))] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert sum(p.numel() for p in model.parameters()) > total
    head = 96 * 20 + 20
    # per layer: LayerNorm 2*96, down 96*64+64, up 64*96+96
    assert counts["adapter_dim"] == 3 * (2 * 96 + 96 * 64 + 64 + 64 * 96 + 96) + head
    # per layer: q, k, v and out each A (8, 96) + B (96, 8)
    assert counts["lora_rank"] == 3 * 4 * (8 * 96 + 96 * 8) + head


def test_ssl_finetune_freezes_the_feature_encoder_and_trains_the_head_first():
    model = _model("wav2vec2")
    strategy = OmegaConf.load(CONF_DIR / "strategy" / "ssl_finetune.yaml")
    kwargs = apply_strategy(model, strategy, model.layer_names())
    names = model.layer_names()
    assert kwargs["stages"] == [["head"], names[1:]]  # names[0]: encoder.feature_extractor
    assert kwargs["stage_epochs"] == 1
    assert set(kwargs["frozen"]) == {n for n, _ in model.named_parameters()
                                     if not n.startswith("head.")}
    scales = [g["lr_scale"] for g in kwargs["param_groups"]]
    assert scales == sorted(scales) and scales[-1] == 1.0 and scales[-2] == 0.9
    frozen = set(set_trainable(model, kwargs["stages"][-1]))  # what fit does at stage 2
    assert frozen == {n for n, _ in model.named_parameters()
                      if n.startswith("encoder.feature_extractor.")}


def test_freeze_holds_in_every_stage_plan():
    model = _model("conformer")
    names = model.layer_names()  # frontend, encoder.layers.0-2, head
    rest = names[1:]
    assert chain_thaw_stages(model, ["head"], freeze=["frontend"]) == [
        ["head"], ["encoder.layers.0"], ["encoder.layers.1"], ["encoder.layers.2"], rest]
    unfreeze = gradual_unfreeze_stages(model, freeze=["frontend"])
    assert unfreeze[-1] == rest and len(unfreeze) == 4  # no stage repeats the one before
    assert head_first_stages(model, ["head"]) == [["head"], names]
    assert head_first_stages(model, ["head"], freeze=["frontend", "encoder.layers.0"]) == [
        ["head"], names[2:]]
    kwargs = apply_strategy(model, _strategy(freeze=["frontend"]), names)
    assert set(kwargs["frozen"]) == {n for n, _ in model.named_parameters()
                                     if n.startswith("frontend.")}
    kwargs = apply_strategy(model, _strategy(stages="chain_thaw", freeze=["frontend"]), names)
    assert all("frontend" not in s for s in kwargs["stages"])


def test_strategy_presets_share_their_keys_and_compose():
    from hydra import compose, initialize_config_dir

    files = sorted((CONF_DIR / "strategy").glob("*.yaml"))
    keys = {f.stem: set(OmegaConf.load(f)) for f in files}
    assert {"adapter", "lora", "ssl_finetune"} <= set(keys)
    assert all(k == keys["finetune"] and {"peft", "freeze"} <= k for k in keys.values()), keys
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for f in files:
            cfg = compose("transfer", overrides=["target=bengali", f"strategy={f.stem}",
                                                 "strategy.freeze=[frontend]"])
            assert list(cfg.strategy.freeze) == ["frontend"]
        lora = compose("transfer", overrides=["target=bengali", "strategy=lora"]).strategy
    model = _model("conformer")
    apply_strategy(model, lora, model.layer_names())
    assert model.cfg.lora_rank == 8 and model.cfg.lora_alpha == 16.0


def test_peft_errors_are_one_line():
    model = _model("conformer")
    for kw, needle in [({"adapter_dim": -1}, "adapter_dim"), ({"lora_rank": -2}, "lora_rank"),
                       ({"lora_rank": 2.5}, "lora_rank"), ({}, "nothing to add"),
                       ({"lora_rank": 4, "lora_alpha": 0}, "lora_alpha")]:
        with pytest.raises(ValueError) as e:
            add_peft(model, **kw)
        assert needle in _error(e)
    assert not peft_parameter_names(model)  # nothing half-added
    add_peft(model, adapter_dim=8)
    with pytest.raises(ValueError) as e:
        add_peft(model, lora_rank=4)
    assert "already has adapters" in _error(e)
    with pytest.raises(ValueError) as e:
        add_peft(torch.nn.Linear(4, 4), adapter_dim=8)
    assert "encoder layers" in _error(e)
    lstm = build_model(ModelConfig.from_dict({**CONFORMER, "encoder": "lstm"}))
    with pytest.raises(ValueError) as e:
        add_peft(lstm, lora_rank=4)
    assert "no attention" in _error(e) and not peft_parameter_names(lstm)
    add_peft(lstm, adapter_dim=8)  # adapters need no attention
    assert "encoder.layers.1.adapter.down.weight" in peft_parameter_names(lstm)


def test_strategy_errors_are_one_line():
    model = _model("conformer")
    names = model.layer_names()
    cases = [(_strategy(trainable="peft", peft={"adapter_dim": 8}, stages="chain_thaw"),
              "stages"),
             (_strategy(trainable="peft"), "needs strategy.peft"),
             (_strategy(freeze=["encoder.feature_extractor"]), "strategy.freeze"),
             (_strategy(peft={"adapter_size": 8}), "adapter_size"),
             (_strategy(stages="head_last"), "head_first"),
             (_strategy(trainable="some"), "peft"),
             (_strategy(stages="head_first", freeze=names), "nothing to train")]
    for strategy, needle in cases:
        with pytest.raises(ValueError) as e:
            apply_strategy(model, strategy, names)
        assert needle in _error(e), strategy
    assert not peft_parameter_names(model)  # refused before anything was added


def test_load_peft_errors_are_one_line(tmp_path):
    model = _model("conformer")
    add_peft(model, adapter_dim=16)
    path = save_peft(model, tmp_path / "a.safetensors")
    with pytest.raises(FileNotFoundError) as e:
        load_peft(_model("conformer"), tmp_path / "missing.safetensors")
    assert "missing.safetensors" in _error(e)
    other = _model("conformer", adapter_dim=32)
    with pytest.raises(ValueError) as e:
        load_peft(other, path)
    assert "adapter_dim=16" in _error(e) and "adapter_dim=32" in _error(e)
    for arch, needle in [({**CONFORMER, "dim": 64}, "dim=96 there vs 64 here"),
                         (WAV2VEC2, "encoder='conformer' there vs 'wav2vec2' here")]:
        torch.manual_seed(0)
        with pytest.raises(ValueError) as e:
            load_peft(build_model(ModelConfig.from_dict(arch)), path)
        assert needle in _error(e)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(ValueError) as e:
        load_peft(_model("conformer"), plain)
    assert "not an adapter file" in _error(e)
    with pytest.raises(ValueError) as e:
        save_peft(_model("conformer"), tmp_path / "none.safetensors")
    assert "no adapters" in _error(e)
