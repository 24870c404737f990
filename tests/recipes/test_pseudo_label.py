"""recipes/pseudo_label.py as a user runs it: a tiny Turkish model transcribes Turkish audio
it has no transcripts of, keeps what it is confident about and trains on it; a rerun
resumes; bad inputs fail in one line."""

from __future__ import annotations

import json

from tests.conftest import SEED, TINY_DATA, _run, _run_here

ROUND = ["unlabelled=turkish", "pseudo.rounds=1", "pseudo.threshold=0.0", "train.epochs=1",
         "train.num_workers=0", "train.batch_duration_s=12", "unlabelled_hours=0.02",
         f"seed={SEED}", *[a for a in TINY_DATA if not a.startswith("data.hours")]]


def test_a_round_of_pseudo_labels(api_run, cache_dir, tmp_path):
    res = _run("pseudo_label", f"checkpoint={api_run}", *ROUND, f"exp_dir={tmp_path}",
               cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    run = tmp_path / "pseudo_label" / "turkish" / "ckpt-turkish"
    rounds = json.loads((run / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    first = rounds[1]
    assert first["kept"] + sum(first["dropped"].values()) == first["utterances"] > 0
    assert first["kept"] > 0 and "test" in first
    labels = (run / "round-1" / "labels.tsv").read_text().splitlines()
    assert len(labels) == first["utterances"]
    meta_files = list((run / "round-1" / "checkpoints").glob("*/meta.json"))
    assert meta_files and json.loads(meta_files[0].read_text())["parent"]
    assert "round 1:" in res.stdout and "round 0:" in res.stdout
    again = _run("pseudo_label", f"checkpoint={api_run}", *ROUND, f"exp_dir={tmp_path}",
                 cache=cache_dir)  # finished: nothing retrained, the same rounds
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((run / "rounds.json").read_text())["rounds"] == rounds
    other = _run_here("pseudo_label", f"checkpoint={api_run}", *ROUND, "pseudo.threshold=0.1",
                      f"exp_dir={tmp_path}", cache=cache_dir)  # its rounds are not reused
    assert other.returncode == 2 and "holds a run with other settings" in other.stderr


def test_bad_inputs_fail_in_one_line(api_run, cache_dir, tiny_corpora, tmp_path):
    test_split = tiny_corpora["turkish"].dir / "test_cuts.jsonl.gz"
    cases = [
        (["unlabelled=turkish", "pseudo.threshold=1.5"], "pseudo.threshold must be in [0, 1)"),
        ([f"unlabelled={test_split}"], "eval: give the language"),
        ([f"unlabelled={test_split}", "eval=turkish", "unlabelled_hours=0.02", *TINY_DATA],
         "it would leak"),
    ]
    for args, needle in cases:
        res = _run_here("pseudo_label", f"checkpoint={api_run}", *args,
                        f"exp_dir={tmp_path}", cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and needle in lines[-1], (args, res.stderr[-800:])
