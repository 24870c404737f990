import json
import random

import numpy as np
import pytest

from asrtl.data import embedded
from asrtl.data.audio import load_audio
from asrtl.data.embedded import EmbeddedConfig, prepare_embedded
from asrtl.data.espeak import Espeak, Prosody
from asrtl.data.manifest import prepare_corpus
from asrtl.data.speakers import HARD_NOVELTY, speaker_pool
from asrtl.data.synth import UttSpec, synthesize_utterance
from tests.conftest import TINY


def _texts(corpus, split):
    return [c.supervisions[0].text for c in corpus.cuts(split)]


def test_speaker_splits_are_disjoint_and_shared_by_languages():
    pool = speaker_pool(seed=0)
    variants = {s: {spk.variant for spk in pool[s]} for s in ("train", "dev", "test")}
    assert not variants["train"] & variants["dev"]
    assert not variants["train"] & variants["test"]
    assert not variants["dev"] & variants["test"]
    assert len(variants["train"]) >= 60  # most of eSpeak's ~90 ordinary variants
    assert pool == speaker_pool(seed=0)
    hard = pool["adapt"]
    assert not {s.variant for s in hard} & variants["train"]
    extreme = [s for s in hard if s.variant not in HARD_NOVELTY]
    assert all(s.pitch <= 10 or s.pitch >= 90 for s in extreme)
    assert all(s.rate_wpm <= 115 or s.rate_wpm >= 265 for s in extreme)


def test_corpus_splits(tiny_corpora):
    bn = tiny_corpora["bengali"]
    assert bn.splits == ["train", "dev", "test", "adapt"]
    spk = {s: {c.supervisions[0].speaker for c in bn.cuts(s)} for s in bn.splits}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test"), ("train", "adapt")):
        assert not spk[a] & spk[b], f"{a} and {b} share speakers"
    texts = {s: set(_texts(bn, s)) for s in bn.splits}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not texts[a] & texts[b], f"{a} and {b} share sentences"
    train_hours = bn.summary["splits"]["train"]["hours"]
    assert 0.02 <= train_hours < 0.03
    for text in _texts(bn, "train"):
        assert 2 <= len(text.split()) <= 8


def test_test_only_words_never_in_training(tiny_corpora, cache_dir):
    bn = tiny_corpora["bengali"]
    words = json.loads((bn.dir.parent / "words.json").read_text(encoding="utf-8"))
    held = set(words["test_only"])
    assert held and len(held) == round(0.1 * len(words["words"]))
    train_words = {w for t in _texts(bn, "train") for w in t.split()}
    test_words = [w for t in _texts(bn, "test") for w in t.split()]
    assert not train_words & held
    assert any(w in held for w in test_words)  # OOV is measurable


def test_same_test_voices_for_every_language(tiny_corpora):
    def voices(corpus):
        return sorted(c.supervisions[0].speaker for c in corpus.cuts("test"))

    assert voices(tiny_corpora["bengali"]) == voices(tiny_corpora["turkish"])


def test_audio_is_16k_speech_of_plausible_length(tiny_corpora):
    cut = tiny_corpora["turkish"].cuts("test")[0]
    audio = load_audio(cut)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - cut.duration * 16000) <= 1
    assert 0.3 < cut.duration < 15
    assert audio.std() > 0.01


def test_second_call_reuses_the_cache(tiny_corpora, cache_dir, monkeypatch):
    def no_synthesis(*args, **kwargs):
        raise AssertionError("synthesised again despite the cache")

    monkeypatch.setattr(embedded, "SynthPool", no_synthesis)
    again = prepare_corpus(dict(TINY, cache_dir=str(cache_dir)), "bengali")
    assert again.dir == tiny_corpora["bengali"].dir
    assert _texts(again, "test") == _texts(tiny_corpora["bengali"], "test")


def test_budgets_are_nested_and_share_test_set(tiny_corpora, cache_dir):
    small = tiny_corpora["turkish"]
    cfg = EmbeddedConfig(**{k: v for k, v in TINY.items() if k != "name"} | {"hours": 0.04})
    big_dir = prepare_embedded("turkish", cfg, cache_dir)
    from lhotse import CutSet

    big_train = list(CutSet.from_file(big_dir / "train_cuts.jsonl.gz").ids)
    small_train = list(small.cuts("train").ids)
    assert big_train[:len(small_train)] == small_train
    assert len(big_train) > len(small_train)
    assert list(CutSet.from_file(big_dir / "test_cuts.jsonl.gz").ids) == list(
        small.cuts("test").ids)


def test_generation_is_deterministic_for_a_seed(tmp_path):
    cfg = EmbeddedConfig(hours=0.005, dev_utts=3, test_utts=3, adapt_utts=1, hard_speakers=2,
                         workers=1)
    a = prepare_embedded("assamese", cfg, tmp_path / "a")
    b = prepare_embedded("assamese", cfg, tmp_path / "b")
    from lhotse import SupervisionSet

    sa = SupervisionSet.from_file(a / "train_supervisions.jsonl.gz")
    sb = SupervisionSet.from_file(b / "train_supervisions.jsonl.gz")
    assert [(s.text, s.speaker) for s in sa] == [(s.text, s.speaker) for s in sb]
    other = prepare_embedded("assamese", EmbeddedConfig(**{**cfg.__dict__, "seed": 1}),
                             tmp_path / "a")
    so = SupervisionSet.from_file(other / "train_supervisions.jsonl.gz")
    assert [s.text for s in so] != [s.text for s in sa]


def test_killed_build_leaves_nothing_trusted(tmp_path, monkeypatch):
    from asrtl.data import store

    cfg = EmbeddedConfig(hours=0.005, dev_utts=3, test_utts=3, adapt_utts=1, hard_speakers=2,
                         workers=1)
    out = embedded.corpus_dir("thai", cfg, tmp_path)

    def killed(*args, **kwargs):  # dies after the first manifest file is written
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "split_stats", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare_embedded("thai", cfg, tmp_path)
    assert not out.exists()  # only a hidden temp dir, which nobody reads
    assert list(out.parent.glob(f".{out.name}.*.tmp"))
    monkeypatch.undo()
    built = prepare_embedded("thai", cfg, tmp_path)
    assert built == out and (out / "summary.json").is_file()
    # The audio written before the kill was reused, not synthesised again.
    assert json.loads((out / "summary.json").read_text())["synthesis"]["audio_s"] == 0


def test_word_gap_separates_words():
    engine = Espeak.get()
    text = "merhaba dünya güzel"
    fused = engine.synthesize(text, "tr+m3", Prosody(word_gap_10ms=0))
    gapped = engine.synthesize(text, "tr+m3", Prosody(word_gap_10ms=10))
    assert len(gapped) - len(fused) > 0.1 * engine.sample_rate  # two 100 ms gaps


def test_augmentation_changes_audio():
    pool = speaker_pool(seed=0)
    spk = pool["train"][0]
    spec = UttSpec("x", "train", "merhaba dünya", spk, spk.prosody(random.Random(0)))
    clean = synthesize_utterance(spec, "tr", 16000)
    fast = synthesize_utterance(UttSpec(**{**spec.__dict__, "speed": 1.25}), "tr", 16000)
    noisy = synthesize_utterance(UttSpec(**{**spec.__dict__, "snr_db": 5.0}), "tr",
                                 16000)
    assert len(fast) == pytest.approx(len(clean) / 1.25, rel=0.05)
    assert len(noisy) == len(clean) and not np.allclose(noisy, clean)
