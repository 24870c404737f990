"""Zero-shot phone decoding: a language's inventory from text alone; a linear head masked to
it, an attribute head rebuilt over it (phones never trained included)."""

from __future__ import annotations

import pytest
import torch

from asrtl.data.features import Fbank
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.multilingual.zero_shot import NEVER, language_inventory, zero_shot_model

TINY = dict(name="t", dim=32, num_layers=1, heads=2, ffn_dim=64, subsampling_channels=8)


def _model(vocab: Vocabulary, head: str):
    torch.manual_seed(0)
    model = build_model(ModelConfig(**TINY, head=head, vocab_size=len(vocab)))
    if head == "attributes":
        model.head.set_vocab(vocab)
    return model.eval()


def test_an_inventory_from_text_alone(cache_dir):
    bengali = language_inventory("bengali", cache_dir)
    assert {"a", "i", "k", "bʰ", "ʃ"} <= bengali and "θ" not in bengali
    assert "x" in language_inventory("spanish", cache_dir) - bengali  # jota


def test_a_linear_head_is_masked_to_the_inventory():
    vocab = Vocabulary.from_texts(["p b a θ"], units="phones")
    model = _model(vocab, "linear")
    masked, same, split = zero_shot_model(model, vocab, {"a", "b", "x"})
    assert same is vocab and split == {"seen": ["a", "b"], "unseen": ["x"]}
    feats = Fbank()(torch.randn(1, 16000), torch.tensor([16000]))
    out = masked(*feats)[0][0]
    gone = [vocab.index["p"], vocab.index["θ"]]
    assert (out[:, gone] < NEVER / 2).all() and not set(out.argmax(-1).tolist()) & set(gone)
    kept = [vocab.index[t] for t in ("<blank>", "a", "b")]
    assert (model(*feats)[0][0][:, kept].exp().sum(-1) < out[:, kept].exp().sum(-1) + 1e-6).all()


def test_an_attribute_head_is_rebuilt_over_the_inventory():
    vocab = Vocabulary.from_texts(["p b a"], units="phones")
    model = _model(vocab, "attributes")
    zs, target, split = zero_shot_model(model, vocab, {"a", "b", "d", "X"})
    assert target.tokens == ["<blank>", "<unk>", "|", "X", "a", "b", "d"]
    assert split == {"seen": ["a", "b"], "unseen": ["X", "d"]}
    w, src = zs.head.weight.detach(), model.head.weight.detach()
    for tok in ("<blank>", "|", "a", "b"):
        torch.testing.assert_close(w[target.index[tok]], src[vocab.index[tok]])
    assert zs.head.composed[target.index["d"]]  # d: never trained, composed from features
    assert zs.head.bias[target.index["X"]] < NEVER / 2  # PanPhon cannot read X: never emitted
    assert zs.encoder is model.encoder and model.head.out_features == len(vocab)


def test_zero_shot_is_for_phone_models():
    vocab = Vocabulary.from_texts(["ab"])
    with pytest.raises(UserError, match="for phone models"):
        zero_shot_model(_model(vocab, "linear"), vocab, {"a"})
