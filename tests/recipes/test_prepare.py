"""recipes/prepare.py as a user runs it: the command line contract of INTERFACE.md."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, _run_here


def _run(*args: str, cache) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "recipes/prepare.py", *args, f"exp_dir={cache}/exp"],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"ASRTL_CACHE": str(cache), "PATH": "/usr/bin:/bin"})


def test_prepare_embedded_prints_a_summary_then_reuses(tmp_path):
    args = ("language=turkish", "data.hours=0.01", "data.dev_utts=4", "data.test_utts=4",
            "data.adapt_utts=1", "data.hard_speakers=2")
    first = _run(*args, cache=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "turkish (embedded)" in first.stdout and "train" in first.stdout
    assert list((tmp_path / "embedded" / "turkish").glob("*/corpus-0.01h/train_cuts.jsonl.gz"))
    second = _run(*args, cache=tmp_path)
    assert second.returncode == 0 and "reusing cached" in second.stdout + second.stderr


def test_bad_inputs_fail_in_one_named_line(tmp_path):
    cases = {
        ("language=lao",): "closest available relative is 'thai'",
        ("language=bengali", "data.hourz=1"): "data.hourz",
        ("language=bengali", "data=tapes"): "data/tapes",
        ("data=kaldi", "language=bengali", f"data.path={tmp_path}/none"): f"{tmp_path}/none",
        ("data.hours=0.1",): "language=",
    }
    for args, needle in cases.items():
        res = _run_here("prepare", *args, f"exp_dir={tmp_path}/exp", cache=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (
            args, res.stderr)
