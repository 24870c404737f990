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
