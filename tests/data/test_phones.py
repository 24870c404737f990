"""Phone targets (units=phones): eSpeak NG's G2P word by word, the cached lexicon, phone texts,
the phone vocabulary and the phone error rate."""

from __future__ import annotations

import json

import pytest
import torch

from asrtl.data.phones import (
    Lexicon,
    PhoneCorpus,
    check_units,
    language_lexicon,
    lexicon_path,
    phonemise_word,
    split_phones,
    with_units,
)
from asrtl.data.vocab import Vocabulary
from asrtl.errors import UserError
from asrtl.eval.score import score


def test_g2p_gives_ipa_segments_with_their_modifiers():
    assert phonemise_word("merhaba", "tr") == ("m", "ɛ", "r", "h", "a", "b", "a")
    assert phonemise_word("church", "en") == ("tʃ", "ɜː", "tʃ")  # affricates, length kept
    assert phonemise_word("পানি", "bn") == ("p", "a", "n", "i")
    assert split_phones("ɡ_ʰ_ˈa_5") == ("ɡʰ", "a")  # stress and tone numbers dropped


def test_a_word_espeak_spells_out_has_no_pronunciation_and_drops_its_utterance():
    assert phonemise_word("hello", "bn") == ()  # Bengali eSpeak switches to English
    lex = Lexicon("bengali", "bn")
    lex.add(["পানি", "hello"])
    assert lex.unpronounced == ["hello"]
    assert lex.phone_text("পানি পানি") == "p a n i | p a n i"
    assert lex.phone_text("পানি hello") is None


def test_the_lexicon_is_cached_per_language(tmp_path):
    lex = language_lexicon("turkish", ["merhaba dünya", "merhaba"], tmp_path)
    f = lexicon_path(tmp_path, "turkish")
    saved = json.loads(f.read_text(encoding="utf-8"))
    assert saved["words"]["merhaba"] == "m ɛ r h a b a" and saved["voice"] == "tr"
    assert saved["inventory"]["a"] == lex.inventory["a"] > 0
    saved["words"]["merhaba"] = "x"  # the cache is read, not recomputed
    f.write_text(json.dumps(saved), encoding="utf-8")
    assert language_lexicon("turkish", ["merhaba"], tmp_path).words["merhaba"] == ("x",)


def test_units_are_checked_before_work():
    check_units("chars", "anything")  # characters need no G2P
    with pytest.raises(UserError, match=r"units: 'runes' is not one of \['chars', 'phones'\]"):
        check_units("runes", "turkish")
    with pytest.raises(UserError, match=r"units=phones: eSpeak NG cannot phonemise 'klingon'"):
        check_units("phones", "klingon")


def test_phone_vocabulary_and_scores():
    v = Vocabulary.from_texts(["tʃ a | d ø n", "a n"], units="phones")
    assert v.tokens[3:] == ["a", "d", "n", "tʃ", "ø"]
    assert v.decode(v.encode("tʃ a | d ø n")) == "tʃ a | d ø n"
    s = score(["m ɛ r | d ø n"], ["m ɛ r | d o n"], units="phones")
    assert s["wer"] == pytest.approx(0.5)  # one phonemic word of two wrong
    assert s["per"] == s["cer"] == pytest.approx(1 / 6)  # one phone of six
    assert s["num_phones"] == 6 and s["units"] == "phones"


def test_phone_corpus_of_a_real_corpus(tiny_corpora, cache_dir):
    corpus = tiny_corpora["turkish"]
    phones = with_units(corpus, "phones", cache_dir)
    assert isinstance(phones, PhoneCorpus) and with_units(corpus, "chars", cache_dir) is corpus
    chars, converted = corpus.cuts("dev"), phones.cuts("dev")
    assert len(converted) + phones.dropped["dev"] == len(chars)
    by_id = {c.id: c.supervisions[0].text for c in chars}
    for c in converted:
        text = c.supervisions[0].text
        assert text.count("|") == len(by_id[c.id].split()) - 1  # one boundary between words
        assert set(text.split()) <= set(phones.lexicon.inventory) | {"|"}


def test_a_phone_beam_search_writes_words_from_their_pronunciations():
    from asrtl.eval.decode import BeamDecoder

    vocab = Vocabulary.from_texts(["p a n i | m a"], units="phones")
    spell = {"পানি": ("p", "a", "n", "i"), "মা": ("m", "a"), "হ্যালো": ()}
    path = [vocab.index[t] for t in ("p", "a", "n", "i", "|", "m", "a")]
    log_probs = torch.full((1, 2 * len(path), len(vocab)), -10.0)
    for i, t in enumerate(path):  # each phone, then a blank
        log_probs[0, 2 * i, t] = 0.0
        log_probs[0, 2 * i + 1, 0] = 0.0
    decoder = BeamDecoder(vocab, list(spell), beam_size=8, spell=spell)
    assert decoder.lexicon_size == 2  # the word without a pronunciation is left out
    assert decoder(log_probs.log_softmax(-1), torch.tensor([2 * len(path)])) == ["পানি মা"]
    with pytest.raises(UserError, match="needs the words' pronunciations"):
        BeamDecoder(vocab, list(spell))


def test_word_times_of_a_phone_text_and_of_words_through_their_phones():
    from asrtl.eval.align import word_timestamps

    vocab = Vocabulary.from_texts(["p a n i | m a"], units="phones")
    path = [vocab.index[t] for t in ("p", "a", "n", "i", "|", "m", "a")]
    log_probs = torch.full((2 * len(path), len(vocab)), -10.0)
    for i, t in enumerate(path):
        log_probs[2 * i, t] = 0.0
        log_probs[2 * i + 1, 0] = 0.0
    log_probs = log_probs.log_softmax(-1)
    times = word_timestamps(log_probs, "p a n i | m a", vocab, 0.04)
    assert [w for w, _, _ in times] == ["p a n i", "m a"]
    assert times[0][2] <= times[1][1]  # the first word ends before the second starts
    spell = {"পানি": ("p", "a", "n", "i"), "মা": ("m", "a")}
    words = word_timestamps(log_probs, "পানি মা", vocab, 0.04, spell=spell)
    assert [(w, s, e) for w, s, e in words] == [("পানি", *times[0][1:]), ("মা", *times[1][1:])]
