import json

import pytest
import torch

from asrtl.data.vocab import Vocabulary
from asrtl.eval.decode import BeamDecoder, greedy
from asrtl.eval.score import score, write_results


def test_scores_are_fractions_and_percentages():
    s = score(["a b c d", "e f"], ["a x c d", "e f"])
    assert s["wer"] == 1 / 6 and s["wer_percent"] == round(100 / 6, 2)
    assert 0 < s["cer"] < s["wer"]


def test_scores_compare_in_nfc():
    precomposed, decomposed = "\u09df\u09be", "\u09af\u09bc\u09be"  # য়া two ways
    assert score([f"ক {precomposed}"], [f"ক {decomposed}"])["cer"] == 0.0


def test_results_files_include_perfect_and_wrong_utterances(tmp_path):
    write_results(tmp_path, ["u2", "u1"], ["a b", "c d"], ["a b", "c x"], {"split": "test"})
    assert (tmp_path / "hyps.txt").read_text() == "u1\tc x\nu2\ta b\n"
    errs = (tmp_path / "errs.txt").read_text()
    assert errs.index("u1 (1 word errors)") < errs.index("u2 (0 word errors)")
    assert "REF: c d" in errs and "HYP: a b" in errs
    assert json.loads((tmp_path / "scores.json").read_text())["split"] == "test"


def test_greedy_collapses_repeats_and_blanks():
    vocab = Vocabulary.from_texts(["ab"])  # <blank> <unk> | a b
    path = [3, 3, 0, 3, 2, 4, 4, 0]  # a a _ a | b b _ -> "aa b"
    log_probs = torch.full((1, len(path), len(vocab)), -10.0)
    log_probs[0, torch.arange(len(path)), torch.tensor(path)] = 0.0
    assert greedy(log_probs, torch.tensor([len(path)]), vocab) == ["aa b"]
    assert greedy(log_probs, torch.tensor([3]), vocab) == ["a"]


# Silence, then "c a" and a last letter where "b" narrowly beats "t", then silence.
CAT_OR_CAB = [{"<blank>": 0.9}, {"c": 0.9}, {"a": 0.9}, {"b": 0.55, "t": 0.44},
              {"<blank>": 0.9}]


def _emissions(vocab: Vocabulary, frames: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities ``(1, T, V)`` with the given per-frame probabilities (rest 0.01)."""
    probs = torch.full((1, len(frames), len(vocab)), 0.01)
    for t, frame in enumerate(frames):
        for ch, p in frame.items():
            probs[0, t, vocab.index[ch]] = p
    return probs.log().log_softmax(-1), torch.tensor([len(frames)])


def test_lexicon_beam_snaps_to_known_words():
    vocab = Vocabulary.from_texts(["cat cab"])
    log_probs, lens = _emissions(vocab, CAT_OR_CAB)
    assert greedy(log_probs, lens, vocab) == ["cab"]
    assert BeamDecoder(vocab, ["cat"], beam_size=8)(log_probs, lens) == ["cat"]


def test_kenlm_arpa_model_steers_the_beam(tmp_path):
    vocab = Vocabulary.from_texts(["cat cab"])
    log_probs, lens = _emissions(vocab, CAT_OR_CAB)
    arpa = tmp_path / "lm.arpa"  # a bigram LM that strongly prefers "cat"
    arpa.write_text("\\data\\\nngram 1=5\nngram 2=2\n\n\\1-grams:\n-1.0\t<unk>\t0\n"
                    "-99\t<s>\t-0.3\n-0.3\t</s>\t0\n-0.1\tcat\t-0.1\n-3.0\tcab\t-0.1\n\n"
                    "\\2-grams:\n-0.1\t<s> cat\n-3.0\t<s> cab\n\n\\end\\\n")
    plain = BeamDecoder(vocab, ["cat", "cab"], beam_size=8)
    with_lm = BeamDecoder(vocab, ["cat", "cab"], kenlm=str(arpa), beam_size=8, lm_weight=2.0)
    assert plain(log_probs, lens) == ["cab"]
    assert with_lm(log_probs, lens) == ["cat"]
    bad = tmp_path / "bad.arpa"
    bad.write_text("not an arpa file\n")
    with pytest.raises(ValueError, match="cannot load KenLM model .*bad.arpa"):
        BeamDecoder(vocab, ["cat"], kenlm=str(bad))
