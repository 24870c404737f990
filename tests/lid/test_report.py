"""What a LID run writes (accuracy, ranking, matrix) and its deprecated ``hours=``, on
made-up posteriors and configs."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from asrtl.lid.compat import deprecated_hours, upgrade_run_json
from asrtl.lid.report import (
    accuracy_summary,
    lid_matrix,
    matrix_csv,
    sampling_rates,
    target_ranking,
    write_matrix,
)
from asrtl.lid.score import Posteriors

LANGS = ["assamese", "thai", "turkish"]


def _post(sums: list[list[float]], frames: list[float]) -> Posteriors:
    return Posteriors(LANGS, [f"u{i}" for i in range(len(sums))], np.array(sums),
                      np.array(frames))


def _rows() -> dict[str, Posteriors]:
    return {
        # 3 assamese utterances, 2 of them predicted assamese
        "assamese": _post([[8.0, 1.0, 1.0], [6.0, 3.0, 1.0], [1.0, 8.0, 1.0]], [10, 10, 10]),
        # 1 thai utterance, predicted thai
        "thai": _post([[2.0, 17.0, 1.0]], [20]),
        # 2 turkish utterances, none predicted turkish
        "turkish": _post([[5.0, 1.0, 4.0], [1.0, 5.0, 4.0]], [10, 10]),
    }


def test_accuracy_is_per_language_and_pooled_over_utterances():
    acc = accuracy_summary(_rows(), "test")
    assert acc == {"split": "test", "utterance_accuracy": round((0.6667 * 3 + 1 * 1) / 6, 4),
                   "per_language": {"assamese": 0.6667, "thai": 1.0, "turkish": 0.0},
                   "utterances": {"assamese": 3, "thai": 1, "turkish": 2}}
    with pytest.raises(ValueError, match="no held-out posteriors"):
        accuracy_summary({}, "test")


def test_target_ranking_leaves_the_target_out():
    post = _rows()["turkish"]  # frame mean: assamese 0.3, thai 0.3, turkish 0.4
    out = target_ranking(post, "turkish", bootstrap=50, seed=0)
    assert [r["source"] for r in out["ranking"]] == ["assamese", "thai"]  # tie: by name
    assert out["best"] == "assamese" and out["target"] == "turkish"
    assert out["ranking"][0] == {"source": "assamese", "score": 0.3, "utterance_score": 0.3}
    assert set(out["top_share_bootstrap"]) == {"assamese", "thai"}
    assert sum(out["top_share_bootstrap"].values()) == pytest.approx(1.0)
    assert (out["utterances"], out["frames"], out["classes"]) == (2, 20, LANGS)
    assert list(out) == ["target", "ranking", "best", "top_share_bootstrap", "utterances",
                         "frames", "classes"]
    # a target the classifier has no class for ranks every class
    assert len(target_ranking(post, "bengali", bootstrap=10)["ranking"]) == 3


def test_sampling_rates_count_utterances_per_rate():
    cuts = [SimpleNamespace(recording=SimpleNamespace(sampling_rate=r))
            for r in (16000, 8000, 8000)]
    assert sampling_rates(cuts) == {"16000": 1, "8000": 2}


def test_matrix_rows_are_inputs_and_columns_classes(tmp_path):
    rows = _rows()
    m = lid_matrix(rows, LANGS)
    assert m["columns"] == LANGS and m["rows"] == LANGS
    assert m["frame_mean"]["thai"] == {"assamese": 0.1, "thai": 0.85, "turkish": 0.05}
    assert m["frame_mean"]["assamese"]["assamese"] == 0.5  # 15 / 30 frames
    assert m["utterance_mean"]["turkish"] == {"assamese": 0.3, "thai": 0.3, "turkish": 0.4}
    csv = matrix_csv(m).splitlines()
    assert csv[0] == "input,assamese,thai,turkish"
    assert csv[2] == "thai,0.1000,0.8500,0.0500"
    assert write_matrix(tmp_path, rows, LANGS) == m
    assert json.loads((tmp_path / "lid_matrix.json").read_text()) == m
    assert (tmp_path / "lid_matrix.csv").read_text() == matrix_csv(m)
    with pytest.raises(ValueError):
        lid_matrix(rows, LANGS[:2])


def test_hours_is_a_deprecated_alias_of_data_hours(caplog):
    cfg = OmegaConf.create({"hours": 0.5, "data": {"hours": 0.1}})
    OmegaConf.set_struct(cfg, True)
    with caplog.at_level(logging.WARNING, logger="asrtl.lid.compat"):
        deprecated_hours(cfg)
    assert cfg.data.hours == 0.5 and cfg.hours is None
    assert "hours=0.5 is deprecated and will be removed: use data.hours=0.5" in caplog.text
    unset = OmegaConf.create({"hours": None, "data": {"hours": 0.1}})
    deprecated_hours(unset)
    assert unset.data.hours == 0.1
    for bad in (True, "lots"):
        with pytest.raises(ValueError, match="hours \\(deprecated: data.hours\\)"):
            deprecated_hours(OmegaConf.create({"hours": bad, "data": {"hours": 0.1}}))


def test_run_dirs_begun_under_hours_are_rewritten_to_data_hours(tmp_path):
    upgrade_run_json(tmp_path)  # no run.json yet: nothing to do
    assert not (tmp_path / "run.json").exists()
    (tmp_path / "run.json").write_text(json.dumps({"hours": 0.03, "data": {"hours": 0.5}}))
    upgrade_run_json(tmp_path)
    assert json.loads((tmp_path / "run.json").read_text()) == {"hours": None,
                                                               "data": {"hours": 0.03}}
    before = (tmp_path / "run.json").read_text()
    upgrade_run_json(tmp_path)  # already upgraded: left as it is
    assert (tmp_path / "run.json").read_text() == before
