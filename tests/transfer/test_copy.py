import pytest
import torch

from asrtl.data.languages import get_language
from asrtl.data.text import cldr_words
from asrtl.data.vocab import Vocabulary
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.transfer.copy import copy_layers

ARCH = dict(dim=32, num_layers=3, heads=2, ffn_dim=64, subsampling_channels=8)


def _model(vocab: Vocabulary, seed: int, **kw) -> CTCModel:
    torch.manual_seed(seed)
    return CTCModel(ModelConfig(**{**ARCH, **kw}, vocab_size=len(vocab)))


def _vocab(language: str) -> tuple[Vocabulary, list[str]]:
    """The vocabulary of ``language``'s CLDR words (those the embedded corpus speaks) and
    those words as five-word sentences: text only, no audio synthesised."""
    lang = get_language(language)
    words = cldr_words(lang.locale, lang.script, lang.turkic_casing)
    texts = [" ".join(words[i:i + 5]) for i in range(0, len(words), 5)]
    return Vocabulary.from_texts(texts), texts


def test_default_copies_everything_and_maps_the_head():
    bn_vocab, bn_texts = _vocab("bengali")
    src = _model(bn_vocab, 0)
    tgt = _model(bn_vocab, 1)
    report = copy_layers(src, tgt, source_vocab=bn_vocab, target_vocab=bn_vocab,
                         target_texts=bn_texts)
    for k, v in src.state_dict().items():
        torch.testing.assert_close(tgt.state_dict()[k], v)
    assert report.head.token_coverage == 1.0 and report.head.text_coverage == 1.0
    assert report.layers == ["frontend", "encoder.layers.0", "encoder.layers.1",
                             "encoder.layers.2", "head"]


def test_chosen_layers_only():
    vocab, _ = _vocab("turkish")
    src, tgt = _model(vocab, 0), _model(vocab, 1)
    before = {k: v.clone() for k, v in tgt.state_dict().items()}
    report = copy_layers(src, tgt, ["encoder.layers.2", "encoder.layers.1"])
    assert report.layers == ["encoder.layers.1", "encoder.layers.2"]
    for k, v in tgt.state_dict().items():
        if k.startswith(("encoder.layers.1.", "encoder.layers.2.")):
            torch.testing.assert_close(v, src.state_dict()[k])
            assert k in report.copied
        else:
            torch.testing.assert_close(v, before[k])  # untouched: the target's own init
            assert k in report.reinitialised
            if v.is_floating_point() and v.std() > 0:  # random inits differ between seeds
                assert not torch.equal(v, src.state_dict()[k]), k


def test_head_rows_follow_tokens_and_coverage_is_honest():
    bn_vocab, bn_texts = _vocab("bengali")
    tr_vocab, _ = _vocab("turkish")
    src = _model(tr_vocab, 0)
    tgt = _model(bn_vocab, 1)
    report = copy_layers(src, tgt, source_vocab=tr_vocab, target_vocab=bn_vocab,
                         target_texts=bn_texts)
    # Turkish and Bengali share no letters: only <blank>, <unk> and | map.
    assert report.head.mapped == ["<blank>", "<unk>", "|"]
    assert report.head.text_coverage == 0.0
    assert report.head.token_coverage == pytest.approx(3 / len(bn_vocab))
    w_src, w_tgt = src.head.weight.detach(), tgt.head.weight.detach()
    torch.testing.assert_close(w_tgt[0], w_src[0])  # blank row carried over
    torch.testing.assert_close(w_tgt[bn_vocab.index["ক"]], w_src.mean(0))  # new: mean init
    assert "ক" in report.head.new
    # Same script: every Bengali symbol seen in the Turkish-free case maps to itself.
    bn_src = _model(bn_vocab, 2)
    report = copy_layers(bn_src, _model(bn_vocab, 3), source_vocab=bn_vocab,
                         target_vocab=bn_vocab)
    assert report.head.token_coverage == 1.0 and not report.head.new


def test_bad_layer_names_and_shapes_are_named():
    vocab, _ = _vocab("turkish")
    src, tgt = _model(vocab, 0), _model(vocab, 1)
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['encoder.layers.7'\].*valid: "
                                         r"frontend, encoder.layers.0"):
        copy_layers(src, tgt, ["encoder.layers.7"])
    wide = _model(vocab, 2, dim=48, heads=2)
    with pytest.raises(ValueError, match="shape mismatch for 'encoder.layers.0.*source"):
        copy_layers(wide, tgt, ["encoder.layers.0"])
    shallow = _model(vocab, 3, num_layers=2)
    with pytest.raises(ValueError, match="source model has no tensor 'encoder.layers.2"):
        copy_layers(shallow, tgt, ["encoder.layers.2"])
