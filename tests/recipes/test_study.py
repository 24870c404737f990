"""recipes/study.py end to end on two tiny languages: killed mid-way, rerun, reported."""

from __future__ import annotations

import json
import os
import signal

from tests.conftest import TINY_DATA, _run, _run_here, _start, wait_for_line

DATA = "overrides=[" + ",".join(f"'{a}'" for a in TINY_DATA if not a.startswith("data.hours")) \
    + "]"
ARGS = ["languages=[bengali,assamese]", "scale=smoke", DATA]


def test_study_resumes_after_a_kill_and_reports(cache_dir, tmp_path):
    study = tmp_path / "study" / "bengali+assamese"
    first = study / "pretrain" / "bengali-0.04h" / "results" / "test" / "scores.json"
    proc = _start("study", *ARGS, f"exp_dir={tmp_path}", cache=cache_dir)
    wait_for_line(proc, r"^bengali test greedy: WER")  # the first job's last line
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.is_file(), "the first job never finished"
    assert not (study / "report").exists()
    done = first.stat().st_mtime_ns

    res = _run("study", *ARGS, f"exp_dir={tmp_path}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert first.stat().st_mtime_ns == done  # finished jobs are not redone
    report = study / "report"
    results = json.loads((report / "results.json").read_text())
    assert results["missing"] == []
    assert set(results["wer"]) == {"none", "bengali", "assamese"}
    for row in results["wer"].values():
        assert all(0 <= v <= 1.5 for v in row.values())
    meta = json.loads((study / "study.json").read_text())
    assert meta["focus"]["target"] == "bengali" and meta["focus"]["source"] == "assamese"
    assert meta["focus"]["chosen_by"].startswith("LID (matrix row")
    assert results["per_target"]["bengali"]["lid_mode"] == "matrix"  # 2 languages: no LOO
    md = (report / "report.md").read_text()
    assert "## bengali: the reference study's table" in md and "n/a |" not in md.split("## WER")[0]
    assert all((report / f).stat().st_size > 0 for f in ("wer_matrix.png", "lid_matrix.png",
                                                         "transfer_gain.png", "wer.csv"))
    # the report alone, rebuilt from the stored results, is the same file
    before = (report / "report.md").read_bytes()
    res = _run("report", f"study={study}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (report / "report.md").read_bytes() == before
    assert sorted(p.name for p in report.iterdir()) == sorted(
        ["report.md", "wer.csv", "cer.csv", "lid.csv", "results.json", "wer_matrix.png",
         "lid_matrix.png", "transfer_gain.png"])


def test_bad_study_inputs(cache_dir, tmp_path):
    for args, needle in [(["languages=[bengali]"], "at least 2 distinct languages"),
                         (["languages=[bengali,lao]"], "thai"),
                         (["languages=[bengali,assamese]", "focus.target=turkish"],
                          "focus.target=turkish is not one of")]:
        res = _run_here("study", *args, f"exp_dir={tmp_path}", cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and needle in lines[-1], (args, res.stderr[-800:])
    res = _run_here("report", f"study={tmp_path}", cache=cache_dir)
    assert res.returncode == 2 and "no study.json" in res.stderr
