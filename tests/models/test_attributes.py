"""The attribute-composed head: phone rows built from PanPhon features, so a phone never
trained still has a row; shared composition in a transfer; saved with its features."""

from __future__ import annotations

import pytest
import torch

from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.models.attributes import AttributeHead, check_head, phone_features, vocab_features
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.train.checkpoint import load_checkpoint, save_checkpoint
from asrtl.transfer.copy import copy_layers

TINY = dict(name="t", dim=32, num_layers=1, heads=2, ffn_dim=64, subsampling_channels=8,
            num_mel_bins=20, head="attributes")


def _model(vocab: Vocabulary, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(**TINY, vocab_size=len(vocab)))
    model.head.set_vocab(vocab)
    return model


def _vocab(phones: str) -> Vocabulary:
    return Vocabulary.from_texts([phones], units="phones")


def test_features_tell_phones_apart_by_their_attributes():
    voi = 8  # PanPhon's order: syl son cons cont delrel lat nas strid voi ...
    assert phone_features("b")[voi] == 1 and phone_features("p")[voi] == -1
    assert phone_features("tʃ") == phone_features("t͡ʃ")  # an affricate without its tie bar
    assert phone_features("X") is None  # eSpeak's mnemonic, not IPA
    feats, composed, unknown = vocab_features(_vocab("a b X"))
    assert composed.tolist() == [False, False, False, False, True, True]  # X sorts first
    assert unknown == ["X"] and feats[3].abs().sum() == 0
    with pytest.raises(UserError, match="needs units=phones, not units=chars"):
        vocab_features(Vocabulary.from_texts(["ab"]))


def _row(head: AttributeHead, phone: str) -> torch.Tensor:
    f = torch.tensor(phone_features(phone))
    return (head.phone + f.clamp(min=0) @ head.plus + (-f).clamp(min=0) @ head.minus).detach()


def test_a_phone_never_trained_has_the_row_its_features_give():
    model = _model(_vocab("p b a"))
    head = model.head
    rows = head.weight.detach()
    assert torch.allclose(rows[3], _row(head, "a")) and torch.allclose(rows[4], _row(head, "b"))
    # a second head with a phone the first never had, composed by the same vectors
    other = AttributeHead(32, 6)
    other.load_state_dict({k: v for k, v in head.state_dict().items()
                           if k not in ("features", "composed")} | {
        "features": other.features, "composed": other.composed,
        "free.weight": torch.zeros(6, 32), "free.bias": torch.zeros(6)})
    other.set_vocab(_vocab("b d m"))
    assert torch.allclose(other.weight[4].detach(), _row(head, "d"))  # b d m: d is row 4


def test_training_moves_the_row_of_a_phone_outside_the_vocabulary():
    """What a linear head cannot do: "d" is in no vocabulary, yet training on "a" and "b"
    moves its row, through the features it shares with "b" (voiced, consonantal...)."""
    head = _model(_vocab("a b")).head
    before = _row(head, "d")
    x = torch.randn(8, 32)
    loss = torch.nn.functional.cross_entropy(head(x), torch.tensor([3, 4] * 4))  # a, b
    loss.backward()
    torch.optim.SGD(head.parameters(), lr=0.5).step()
    assert (_row(head, "d") - before).norm() > 1e-3


def test_transfer_shares_the_composition_and_maps_free_rows(tmp_path):
    source_vocab, target_vocab = _vocab("p b a"), _vocab("b a d")
    source, target = _model(source_vocab, 0), _model(target_vocab, 1)
    report = copy_layers(source, target, None, source_vocab, target_vocab)
    assert report.head.init == "attributes" and report.head.new == ["d"]
    for name in ("plus", "minus", "phone"):
        assert torch.equal(getattr(target.head, name), getattr(source.head, name))
    assert torch.equal(target.head.free.weight[:3], source.head.free.weight[:3])  # blank <unk> |
    same = {t: i for i, t in enumerate(source_vocab.tokens)}
    for i, tok in enumerate(target_vocab.tokens):
        if tok in same:  # a shared phone: the source's row exactly
            assert torch.allclose(target.head.weight[i], source.head.weight[same[tok]])


def test_saved_with_its_features_and_loaded_without_panphon(tmp_path, monkeypatch):
    import asrtl.models.attributes as attributes

    vocab = _vocab("tʃ a n")
    model = _model(vocab)
    ckpt = save_checkpoint(tmp_path, "step-1", model, {"vocab": vocab.tokens, "units": "phones"})

    def no_panphon():
        raise AssertionError("PanPhon read while loading a checkpoint")

    monkeypatch.setattr(attributes, "_table", no_panphon)
    loaded = load_checkpoint(ckpt)
    assert loaded.vocab.units == "phones" and loaded.model.cfg.head == "attributes"
    x = torch.randn(2, 50, 20)
    lens = torch.tensor([50, 40])
    model.eval(), loaded.model.eval()
    assert torch.allclose(model(x, lens)[0], loaded.model(x, lens)[0])


def test_bad_heads_fail_in_one_line():
    with pytest.raises(UserError, match=r"model.head: 'deep' is not one of"):
        ModelConfig(head="deep")
    with pytest.raises(UserError, match="for the fbank encoders"):
        ModelConfig(encoder="wav2vec2", head="attributes")
    with pytest.raises(UserError, match="needs units=phones, not units=chars"):
        check_head("attributes", "chars")
    check_head("linear", "chars")
