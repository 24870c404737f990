import pytest
import torch

from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.loop import optimizer_groups
from asrtl.transfer.strategies import (
    chain_thaw_stages,
    discriminative_groups,
    gradual_unfreeze_stages,
    set_trainable,
)


@pytest.fixture
def model() -> CTCModel:
    torch.manual_seed(0)
    return CTCModel(ModelConfig(dim=32, num_layers=3, heads=2, ffn_dim=64,
                                subsampling_channels=8, vocab_size=12))


def test_frozen_weights_do_not_move(model):
    frozen = set(set_trainable(model, ["head"]))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.AdamW(p for p in model.parameters() if p.requires_grad)
    for _ in range(3):
        log_probs, _ = model(torch.randn(2, 60, 80), torch.tensor([60, 50]))
        log_probs.sum().backward()
        opt.step()
        opt.zero_grad()
    for k, v in model.named_parameters():
        if k in frozen:
            assert torch.equal(v, before[k]), k
        else:
            assert k.startswith("head.") and not torch.equal(v, before[k])


def test_freezing_everything_is_refused(model):
    with pytest.raises(ValueError, match="nothing to train"):
        set_trainable(model, [])
    with pytest.raises(ValueError, match="unknown layer"):
        set_trainable(model, ["decoder"])
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="nothing to train"):
        optimizer_groups(model, None)


@pytest.mark.parametrize("toward", ["input", "output"])
def test_discriminative_rates_are_ordered(model, toward):
    groups = discriminative_groups(model, 0.5, toward)
    assert [g["name"] for g in groups] == model.layer_names()
    scales = [g["lr_scale"] for g in groups]
    if toward == "input":
        assert scales == sorted(scales) and scales[-1] == 1.0 and scales[0] == 0.5 ** 4
    else:
        assert scales == sorted(scales, reverse=True) and scales[0] == 1.0
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_stage_plans(model):
    assert chain_thaw_stages(model, ["head"]) == [
        ["head"], ["frontend"], ["encoder.layers.0"], ["encoder.layers.1"],
        ["encoder.layers.2"], model.layer_names()]
    stages = gradual_unfreeze_stages(model)
    assert stages[0] == ["head"] and stages[1] == ["encoder.layers.2", "head"]
    assert stages[-1] == model.layer_names() and len(stages) == 5


def test_chain_thaw_trains_exactly_one_group_per_stage(tiny_corpora, tmp_path):
    from asrtl.data.manifest import cut_texts
    from asrtl.data.vocab import Vocabulary
    from asrtl.train.loop import TrainConfig, fit, one_language

    corpus = tiny_corpora["turkish"]
    train, dev = corpus.cuts("train"), corpus.cuts("dev")
    vocab = Vocabulary.from_texts(cut_texts(train))
    torch.manual_seed(0)
    model = CTCModel(ModelConfig(dim=32, num_layers=2, heads=2, ffn_dim=64,
                                 subsampling_channels=8, vocab_size=len(vocab)))
    stages = chain_thaw_stages(model, ["head"])  # head, frontend, layer 0, layer 1, all
    moved_per_stage = []
    for epochs in range(1, len(stages) + 1):  # one epoch per stage, resuming each time
        before = {k: v.detach().clone() for k, v in model.named_parameters()}
        cfg = TrainConfig(epochs=epochs, batch_duration_s=20.0, num_workers=0, warmup_steps=1)
        fit(model, one_language(vocab, train, dev, cfg, 0, torch.device("cpu")), cfg,
            tmp_path, torch.device("cpu"), 0, {"vocab": vocab.tokens}, stages=stages)
        moved = {k.split(".weight")[0].split(".bias")[0] for k, v in model.named_parameters()
                 if not torch.equal(v, before[k])}
        moved_per_stage.append({layer for layer in model.layer_names()
                                if any(m == layer or m.startswith(layer + ".")
                                       for m in moved)})
    assert moved_per_stage[:4] == [{"head"}, {"frontend"}, {"encoder.layers.0"},
                                   {"encoder.layers.1"}]
    assert moved_per_stage[4] == set(model.layer_names())


def test_frozen_layers_keep_their_batch_norm_statistics(model):
    from asrtl.models.layers import freeze_frozen_norms

    set_trainable(model, ["encoder.layers.2", "head"])
    norms = {n: m for n, m in model.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
    assert norms  # the Conformer's convolution modules have batch norms
    before = {n: m.running_mean.clone() for n, m in norms.items()}
    model.train()
    freeze_frozen_norms(model)
    model(torch.randn(2, 50, 80), torch.tensor([50, 40]))
    for n, m in norms.items():
        moved = not torch.equal(m.running_mean, before[n])
        assert moved == n.startswith("encoder.layers.2"), n
