"""The two halves of what transfers (issue 30): the output-mapping ranker ``head_coverage``
and the acoustic / output-mapping split of a ranking, on made-up vocabularies and scores."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

from asrtl.data.vocab import Vocabulary
from asrtl.rank.combine import halves
from asrtl.rank.rankers import HALVES, RANKERS, RankInputs, head_coverage


def _cuts(texts: list[str]) -> CutSet:
    rec = Recording(id="r", sources=[], sampling_rate=16000, num_samples=16000, duration=1.0)
    return CutSet.from_cuts(
        MonoCut(id=f"c{i}", start=0, duration=1.0, channel=0, recording=rec,
                supervisions=[SupervisionSegment(id=f"c{i}", recording_id="r", start=0,
                                                 duration=1.0, text=t)])
        for i, t in enumerate(texts))


def test_head_coverage_is_the_share_of_target_text_a_source_head_can_emit():
    texts = ["আমার নাম", "নাম আমার বাংলা"]  # Bengali script
    target = Vocabulary.from_texts(texts)
    same_script = Vocabulary.from_texts(["আমার নাম বাংলা"])  # every character
    half = Vocabulary.from_texts(["আমা"])  # some
    latin = Vocabulary.from_texts(["benim adim"])  # none: another script
    inputs = RankInputs(target="bengali", target_cuts=_cuts(texts), target_vocab=target,
                        sources={k: SimpleNamespace(vocab=v) for k, v in
                                 (("assamese", same_script), ("half", half),
                                  ("turkish", latin))})
    cov = head_coverage(inputs)
    assert cov["assamese"] == 1.0 and cov["turkish"] == 0.0 and 0 < cov["half"] < 1
    chars = [c for t in texts for c in t if not c.isspace()]
    assert cov["half"] == pytest.approx(sum(c in "আমা" for c in chars) / len(chars))
    assert "head_coverage" in RANKERS and "head_coverage" in HALVES["output"]


def test_halves_combine_apart_and_say_when_they_disagree():
    scores = {"lid_embedding": {"a": 0.9, "b": 0.5, "c": 0.1},
              "units": {"a": 0.8, "b": 0.6, "c": 0.2},
              "zero_shot": {"a": -3.0, "b": -1.0, "c": -2.0},
              "head_coverage": {"a": 0.0, "b": 1.0, "c": 0.9}}
    out = halves(scores, HALVES)
    assert out["acoustic"]["top"] == "a" and out["output"]["top"] == "b"
    assert out["acoustic"]["rankers"] == ["lid_embedding", "units"]
    assert [r["source"] for r in out["output"]["ranking"]] == ["b", "c", "a"]
    assert out["agree"] is False
    scores["head_coverage"] = scores["zero_shot"] = {"a": 1.0, "b": 0.0, "c": 0.5}
    assert halves(scores, HALVES)["agree"] is True
    only = halves({"units": scores["units"]}, HALVES)
    assert set(only) == {"acoustic", "agree"} and only["agree"] is None


def test_tied_tops_agree_when_one_source_is_among_both():
    scores = {"units": {"a": 0.9, "b": 0.5}, "head_coverage": {"a": 1.0, "b": 1.0}}
    out = halves(scores, HALVES)
    assert out["output"]["tops"] == ["a", "b"] and out["agree"] is True


def test_default_weights_give_each_half_the_same_share():
    from asrtl.rank.combine import combine, half_weights

    acoustic, output = ["lid_embedding", "units", "ctc_probe", "logme"], ["zero_shot",
                                                                          "head_coverage"]
    chosen = acoustic + output
    w = half_weights(chosen, HALVES)
    assert w["units"] == pytest.approx(1 / 8) and w["zero_shot"] == pytest.approx(1 / 4)
    assert sum(w.values()) == pytest.approx(1.0)
    # the mean of the two halves' mean ranks
    rng = __import__("numpy").random.default_rng(0)
    scores = {r: dict(zip("abc", rng.random(3).tolist(), strict=True)) for r in chosen}
    both, ac, out = combine(scores, chosen, w), combine(scores, acoustic), combine(scores, output)
    assert both == pytest.approx({s: (ac[s] + out[s]) / 2 for s in "abc"})
    # three of four acoustic rankers for b against both output-mapping ones for a: a plain
    # mean ties, the halves pick a
    scores = {r: {"a": 0.0, "b": 1.0} for r in acoustic[:3]}
    scores |= {r: {"a": 1.0, "b": 0.0} for r in [acoustic[3], *output]}
    assert combine(scores, chosen)["a"] == combine(scores, chosen)["b"]
    assert combine(scores, chosen, w)["a"] > combine(scores, chosen, w)["b"]
    assert half_weights(["units", "oracle"], HALVES) == {"units": 0.5, "oracle": 0.5}


def _tone_cuts(tmp_path, name: str, freqs: tuple[float, float], n: int = 6) -> CutSet:
    """``n`` 1.5 s utterances alternating two tones (0.15 s each) with a little noise."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(sum(map(ord, name)))
    cuts = []
    t = np.arange(int(0.15 * 16000)) / 16000
    for i in range(n):
        segs = [np.sin(2 * np.pi * freqs[j % 2] * t) for j in range(10)]
        audio = 0.3 * np.concatenate(segs) + 0.01 * rng.standard_normal(len(t) * 10)
        path = tmp_path / f"{name}{i}.wav"
        sf.write(path, audio.astype("float32"), 16000)
        rec = Recording.from_file(path, recording_id=f"{name}{i}")
        cuts.append(MonoCut(id=f"{name}{i}", start=0, duration=rec.duration, channel=0,
                            recording=rec, supervisions=[]))
    return CutSet.from_cuts(cuts)


def test_units_prefer_the_source_whose_audio_sounds_like_the_target(tmp_path):
    """The acoustic half's transcript-free ranker on audio whose likeness is known: the
    source that alternates the target's two tones beats one that alternates other tones,
    and one that shares a single tone lands between."""
    from asrtl.rank.rankers import RankSettings, acoustic_units

    audio = {"near": _tone_cuts(tmp_path, "near", (300, 1200)),
             "half": _tone_cuts(tmp_path, "half", (300, 2500)),
             "far": _tone_cuts(tmp_path, "far", (600, 2500))}
    inputs = RankInputs(target="t", target_cuts=_tone_cuts(tmp_path, "t", (300, 1200)),
                        target_vocab=Vocabulary.from_texts(["a"]),
                        sources=dict.fromkeys(audio), source_audio=audio,
                        settings=RankSettings(units_k=8, units_frames=2000))
    sim = acoustic_units(inputs)
    assert sim["near"] > sim["half"] > sim["far"], sim
