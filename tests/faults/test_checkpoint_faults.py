"""Faults of a run directory and of the command line, as a user meets them: a damaged newest
checkpoint, a misspelt key added with ``+``, an imprecise error, weights no one else can read.
Each case: one line naming the bad thing (or a warning and the work resumed), nothing already
written changed, the corrected rerun works."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.train.state import RunState
from tests.conftest import TRAIN, _run, _run_here


def _tiny() -> CTCModel:
    return CTCModel(ModelConfig(name="t", dim=16, num_layers=1, heads=2, ffn_dim=32,
                                subsampling_channels=4, num_mel_bins=16, vocab_size=5))


def snapshot(root: Path) -> dict[str, str]:
    """``{file: sha256}`` of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def unchanged(root: Path, before: dict[str, str]) -> bool:
    """Whether every file of ``before`` is still there with the same bytes (new files, a
    run's log, may have come)."""
    now = snapshot(root)
    return {k: now.get(k) for k in before} == before


def _three(tmp_path: Path) -> RunState:
    run = RunState(tmp_path, keep=3)
    for step in (1, 2, 3):
        run.save(f"step-00000{step}", _tiny(), {"step": step, "epoch": step}, {"epoch": step})
    return run


def _truncate(ckpt: Path) -> None:
    f = ckpt / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


@pytest.mark.parametrize("damage", [
    lambda c: (c / "meta.json").unlink(),
    _truncate,
    lambda c: (c / "model.safetensors").write_bytes(b"\x00" * 7),
    lambda c: (c / "trainer.pt").unlink(),
    shutil.rmtree,  # removed by hand: latest.json names a directory that is gone
], ids=["no-meta", "truncated-weights", "garbage-weights", "no-trainer-state", "removed"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(damage, tmp_path, caplog):
    run = _three(tmp_path)
    damage(run.ckpt_dir / "step-000003")
    with caplog.at_level(logging.WARNING):
        assert run.latest().name == "step-000002"
    assert "skipping a damaged checkpoint" in caplog.text and "step-000003" in caplog.text
    assert run.trainer_state() == {"epoch": 2}


def test_a_damaged_checkpoint_is_set_aside_with_its_files_and_the_pointers_repaired(tmp_path):
    run = _three(tmp_path)
    bad = run.ckpt_dir / "step-000003"
    _truncate(bad)
    kept = snapshot(bad)
    assert run.latest().name == "step-000002"
    aside = run.ckpt_dir / "step-000003.damaged"
    assert not bad.exists() and snapshot(aside) == kept  # nothing of it lost
    assert json.loads((run.ckpt_dir / "latest.json").read_text())["name"] == "step-000002"
    run.save("step-000004", _tiny(), {"step": 4, "epoch": 4}, {"epoch": 4})
    run.save("step-000005", _tiny(), {"step": 5, "epoch": 5}, {"epoch": 5})
    assert aside.is_dir()  # never pruned, never resumed from
    assert run.latest().name == "step-000005"


def test_a_checkpoint_damaged_twice_is_set_aside_twice(tmp_path):
    """The same step written again after a resume, and damaged again (the disk filled up
    twice): both damaged copies kept."""
    run = _three(tmp_path)
    _truncate(run.ckpt_dir / "step-000003")
    assert run.latest().name == "step-000002"
    run.save("step-000003", _tiny(), {"step": 3, "epoch": 3}, {"epoch": 3})
    _truncate(run.ckpt_dir / "step-000003")
    assert run.latest().name == "step-000002"
    assert sorted(p.name for p in run.ckpt_dir.iterdir() if "damaged" in p.name) == [
        "step-000003.damaged", "step-000003.damaged-2"]


def _best_damaged(tmp_path: Path, best_before: dict) -> RunState:
    """Checkpoints 1-3, the third the best and truncated; the second's trainer state holds
    ``best_before``, the best as of then."""
    run = RunState(tmp_path, keep=3)
    run.save("step-000001", _tiny(), {"step": 1, "epoch": 1}, {"epoch": 1},
             best={"name": "step-000001", "cer": 0.6})
    run.save("step-000002", _tiny(), {"step": 2, "epoch": 2}, {"epoch": 2, "best": best_before})
    run.save("step-000003", _tiny(), {"step": 3, "epoch": 3}, {"epoch": 3},
             best={"name": "step-000003", "cer": 0.4})
    _truncate(run.ckpt_dir / "step-000003")
    return run


@pytest.mark.parametrize("best_before, best_after", [
    ({"name": "step-000001", "cer": 0.6}, {"name": "step-000001", "cer": 0.6}),
    ({}, None),  # no earlier choice: best.json goes, the next epoch's end chooses
], ids=["earlier-best", "no-earlier-best"])
def test_best_json_naming_a_damaged_checkpoint_falls_back_to_the_best_before(
        best_before, best_after, tmp_path, caplog):
    run = _best_damaged(tmp_path, best_before)
    with caplog.at_level(logging.WARNING):
        assert run.latest().name == "step-000002"
    assert "best.json named damaged checkpoint step-000003" in caplog.text
    best = run.ckpt_dir / "best.json"
    assert (json.loads(best.read_text()) if best.is_file() else None) == best_after


def test_a_checkpoint_of_another_format_is_an_error_not_damage(tmp_path):
    run = _three(tmp_path)
    meta = run.ckpt_dir / "step-000003" / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format_version": 99}))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint format 99, this asrtl reads format 1"):
        run.latest()
    assert snapshot(tmp_path) == before  # not set aside, not skipped


def test_no_whole_checkpoint_is_one_error_naming_them(tmp_path):
    run = _three(tmp_path)
    for step in (1, 2, 3):
        (run.ckpt_dir / f"step-00000{step}" / "meta.json").unlink()
    with pytest.raises(ValueError, match=r"no whole checkpoint in .*step-000003 has no meta"):
        run.latest()


def test_an_unreadable_latest_pointer_finds_the_newest(tmp_path):
    run = _three(tmp_path)
    (run.ckpt_dir / "latest.json").write_text("{")
    assert run.latest().name == "step-000003"


def test_weights_are_as_readable_as_the_other_files(tmp_path):
    old = os.umask(0o022)
    try:
        run = _three(tmp_path)
    finally:
        os.umask(old)
    ckpt = run.ckpt_dir / "step-000003"
    modes = {p.name: p.stat().st_mode & 0o777 for p in ckpt.iterdir()}
    assert modes == {"model.safetensors": 0o644, "meta.json": 0o644, "trainer.pt": 0o644}


def test_a_recipe_resumes_past_a_truncated_newest_checkpoint(pretrained, cache_dir, tmp_path):
    """pretrain.py, its newest checkpoint truncated (a full disk): the rerun with one epoch
    more resumes from the checkpoint before it and finishes; the older checkpoints it did not
    need are untouched."""
    run = tmp_path / "pretrain" / "turkish"
    shutil.copytree(pretrained, run)
    ckpts = RunState(run).ckpt_dir
    newest = json.loads((ckpts / "latest.json").read_text())["name"]
    _truncate(ckpts / newest)
    res = _run("pretrain", *[a for a in TRAIN if not a.startswith("train.epochs")],
               "train.epochs=4", f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    log = res.stdout + res.stderr
    assert "skipping a damaged checkpoint" in log and newest in log
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


@pytest.mark.parametrize("args, needle", [
    (["+foo=1"], "unknown setting foo (given as +foo=1): pretrain has no such key"),
    (["++trian.lr=1"], "unknown setting trian.lr (given as ++trian.lr=1)"),
    (["train.lr=-1"], "train.lr must be > 0, got -1.0"),
    (["train.batch_duration_s=0"], "train.batch_duration_s must be > 0, got 0.0"),
    (["train.stop_cer=1.5"], "train.stop_cer must be in (0, 1]"),
], ids=["plus-key", "plusplus-key", "negative-lr", "zero-batch", "stop-cer"])
def test_bad_settings_are_one_line_naming_the_key(args, needle, cache_dir, tmp_path):
    (tmp_path / "kept.txt").write_text("a user's file")
    before = snapshot(tmp_path)
    res = _run_here("pretrain", *TRAIN, *args, f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert unchanged(tmp_path, before)
