"""Transferability estimators, units and the combination on data made here (no audio)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from asrtl.rank.combine import combine, confidence, judge, ordered, ranks
from asrtl.rank.estimators import (
    equal_alignment,
    frame_energy_db,
    leep,
    logme,
    segment_alignment,
    speech_runs,
)
from asrtl.rank.units import js_similarity, ngram_distribution, units


def test_equal_alignment_spreads_tokens_evenly():
    assert equal_alignment([5, 6, 7], 6).tolist() == [5, 5, 6, 6, 7, 7]
    assert equal_alignment([5, 6], 3).tolist() == [5, 5, 6]
    with pytest.raises(ValueError, match="0 tokens"):
        equal_alignment([], 4)


def test_flat_start_labels_quiet_frames_as_word_boundaries():
    rng = np.random.default_rng(0)
    quiet, loud = 0.001 * rng.normal(size=640 * 3), 0.3 * rng.normal(size=640 * 4)
    wav = np.concatenate([quiet, loud, quiet, loud, quiet])  # 18 frames of 640 samples
    energy = frame_energy_db(wav, 19, 640)  # one frame past the audio repeats the last
    assert len(energy) == 19 and energy[-1] == energy[-2]
    assert speech_runs(energy) == [(3, 7), (10, 14)]
    labels = segment_alignment([5, 6, 2, 7, 8], energy, space=2)
    assert labels.tolist() == [2] * 3 + [5, 5, 6, 6] + [2] * 3 + [7, 7, 8, 8] + [2] * 5


def _labelled(separation: float, n: int = 3000, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, 16))
    return centres[labels] * separation + rng.normal(size=(n, 16)), labels


def test_logme_prefers_features_that_separate_the_labels():
    good, y = _labelled(3.0)
    weak, _ = _labelled(0.3)
    noise = np.random.default_rng(1).normal(size=good.shape)
    assert logme(good, y) > logme(weak, y) > logme(noise, y)
    with pytest.raises(ValueError, match="as many labels"):
        logme(good, y[:10])


def test_leep_prefers_source_outputs_that_predict_the_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    sharp = np.full((2000, 5), 0.01)
    sharp[np.arange(2000), y + 1] = 0.96  # source token y+1 always means target class y
    flat = rng.dirichlet(np.ones(5), 2000)
    assert leep(sharp, y) > leep(flat, y)
    # P(y | z=y+1) = 0.96 / 0.98, P(y | z=0) = 1/3, P(y | another z) = 0.01 / 0.98
    eep = 0.96 * 0.96 / 0.98 + 0.01 / 3 + 2 * 0.01 * 0.01 / 0.98
    assert leep(sharp, y) == pytest.approx(np.log(eep), abs=0.01)


def test_units_collapse_repeats_and_js_similarity_bounds():
    book = np.array([[0.0, 0.0], [10.0, 10.0]])
    frames = np.array([[0, 0], [0.1, 0], [9, 9], [10, 10], [0, 0.2]], dtype=np.float32)
    assert units([frames], book)[0].tolist() == [0, 1, 0]
    p = ngram_distribution([np.array([0, 1, 0, 1])], 2)
    assert p == Counter({(0, 1): 2, (1, 0): 1})
    assert js_similarity(p, p) == pytest.approx(1.0)
    assert js_similarity(Counter({(0, 1): 1}), Counter({(2, 3): 1})) == pytest.approx(0.0)
    half = js_similarity(Counter({(0, 1): 1}), Counter({(0, 1): 1, (2, 3): 1}))
    assert 0 < half < 1


SCORES = {"a": {"x": 3.0, "y": 2.0, "z": 1.0},
          "b": {"x": 0.1, "y": 0.3, "z": 0.2},
          "c": {"x": -1.0, "y": -5.0, "z": -3.0}}


def test_combined_is_a_pure_function_of_the_ranker_scores():
    assert ranks({"x": 1.0, "y": 1.0, "z": 0.0}) == {"x": 1.5, "y": 1.5, "z": 3.0}
    out = combine(SCORES, ["a", "b", "c"])
    # mean ranks: x (1+3+1)/3, y (2+1+3)/3, z (3+2+2)/3
    assert out == pytest.approx({"x": -5 / 3, "y": -2.0, "z": -7 / 3})
    shuffled = {k: dict(reversed(list(v.items()))) for k, v in reversed(list(SCORES.items()))}
    assert combine(shuffled, ["c", "b", "a"]) == pytest.approx(out)
    monotone = {k: {s: 10 * v + 7 for s, v in d.items()} for k, d in SCORES.items()}
    assert combine(monotone, ["a", "b", "c"]) == pytest.approx(out)  # ranks, not scales
    assert [r["source"] for r in ordered(out)] == ["x", "y", "z"]
    conf = confidence(SCORES, ["a", "b", "c"], out)
    assert conf["top"] == "x" and conf["top_agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert confidence({"a": SCORES["a"], "d": SCORES["a"]}, ["a", "d"],
                      combine(SCORES, ["a"]))["kendall_w"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="missing"):
        combine(SCORES, ["a", "nope"])


def test_judge_signs_ties_and_regret():
    wer = {"x": [0.50, 0.52], "y": [0.60, 0.61], "z": [0.70, 0.72]}
    right = judge({"x": 3, "y": 2, "z": 1}, wer)
    assert right["spearman"] == 1.0 and right["kendall"] == 1.0 and right["top1"]
    assert right["regret"] == 0.0 and right["ndcg@3"] == 1.0
    wrong = judge({"x": 1, "y": 2, "z": 3}, wer)
    assert wrong["spearman"] == -1.0 and not wrong["top1"] and wrong["pick"] == "z"
    assert wrong["regret"] == pytest.approx(20.0)  # 0.71 - 0.51, in WER points
    tied = judge({"x": 1, "y": 3, "z": 2}, {"x": [0.50, 0.55], "y": [0.54, 0.56], "z": [0.9]})
    assert tied["top1"] and tied["best"] == "x"  # y's seed range overlaps the best's


def test_ctc_probe_prefers_frames_that_carry_the_tokens():
    import torch

    from asrtl.rank.rankers import SourcePass, probe_loss

    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(6, 8, generator=gen)  # token t's frames sit near codes[t]

    def utterances(informative: bool) -> list:
        out = []
        for n in range(40):
            tokens = torch.randint(1, 6, (5,), generator=gen).tolist()
            frames = torch.cat([torch.cat([codes[t][None].expand(3, -1),
                                           codes[0][None].expand(2, -1)]) for t in tokens])
            if not informative:
                frames = torch.randn(frames.shape, generator=gen)
            out.append((f"u{n}", frames + 0.1 * torch.randn(frames.shape, generator=gen),
                        tokens))
        return out

    def loss(informative: bool) -> float:
        p = SourcePass(np.zeros((1, 8)), np.zeros(1), np.zeros((1, 6)), 0.0, 0.0,
                       utterances(informative), torch.nn.Linear(8, 6))
        return probe_loss(p, frozenset(f"u{n}" for n in range(30, 40)), 20, 0.05, 0)

    good, noise = loss(True), loss(False)
    assert good < 0.5 * noise, (good, noise)


def test_rank_settings_are_checked_naming_the_key():
    from asrtl.errors import UserError
    from asrtl.rank.rankers import RankSettings

    assert RankSettings.from_dict({"units_k": 32, "probe_lr": 1}).probe_lr == 1.0
    for bad, needle in [({"units_kk": 3}, "settings.units_kk"),
                        ({"units_k": "many"}, "settings.units_k: expected an integer"),
                        ({"units_k": 0}, "settings.units_k: expected at least 1"),
                        ({"probe_lr": -1.0}, "settings.probe_lr: expected > 0")]:
        with pytest.raises(UserError, match=needle):
            RankSettings.from_dict(bad)
