"""Pseudo-labels: confidences from the model's posteriors, selection by threshold and share,
the cuts they make, and the leak check against a test split."""

from __future__ import annotations

import pytest
import torch

from asrtl.data.manifest import cut_texts
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.models.ctc import ModelConfig
from asrtl.models.factory import build_model
from asrtl.transfer.pseudo_label import (
    Label,
    PseudoLabelConfig,
    check_no_leak,
    pseudo_cuts,
    select,
    transcribe,
)


def test_selection_keeps_the_confident_and_counts_the_rest():
    labels = [Label("a", "x y", 0.9), Label("b", "", 0.0), Label("c", "z", 0.3),
              Label("d", "w", 0.7), Label("e", "v", 0.6)]
    kept, dropped = select(labels, PseudoLabelConfig(threshold=0.5))
    assert [k.id for k in kept] == ["a", "d", "e"]  # most confident first
    assert dropped == {"empty": 1, "below_threshold": 1, "beyond_fraction": 0}
    kept, dropped = select(labels, PseudoLabelConfig(threshold=0.5, keep_fraction=0.4))
    assert [k.id for k in kept] == ["a", "d"] and dropped["beyond_fraction"] == 1


def test_transcripts_and_confidences_of_a_model(tiny_corpora):
    cuts = tiny_corpora["turkish"].cuts("dev").subset(first=4)
    vocab = Vocabulary.from_texts(cut_texts(tiny_corpora["turkish"].cuts("train")))
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="t", dim=32, num_layers=1, heads=2, ffn_dim=64,
                                    subsampling_channels=8, vocab_size=len(vocab)))
    with torch.no_grad():  # a head that favours one letter: every frame emits it
        model.head.bias.zero_()
        model.head.bias[vocab.index["a"]] = 20.0
    labels = transcribe(model, vocab, cuts, torch.device("cpu"))
    assert [lab.id for lab in labels] == [c.id for c in cuts]
    assert all(lab.text == "a" and lab.confidence > 0.99 for lab in labels)
    made = pseudo_cuts(cuts, labels[:2])
    assert [c.supervisions[0].text for c in made] == ["a", "a"]
    assert [c.id for c in made] == [c.id for c in cuts][:2]


def test_bad_settings_and_a_leak_are_refused(tiny_corpora):
    with pytest.raises(UserError, match=r"pseudo.threshold must be in \[0, 1\), got 1.5"):
        PseudoLabelConfig.from_dict({"threshold": 1.5})
    with pytest.raises(UserError, match="pseudo.rounds must be >= 1"):
        PseudoLabelConfig.from_dict({"rounds": 0})
    corpus = tiny_corpora["turkish"]
    check_no_leak(corpus.cuts("train"), corpus.cuts("test"), "turkish")
    with pytest.raises(UserError, match="in the test split of turkish.*would leak"):
        check_no_leak(corpus.cuts("test").subset(first=2), corpus.cuts("test"), "turkish")
