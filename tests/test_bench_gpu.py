"""bench/gpu.py: the smoke run exercises every measurement on the CPU; without CUDA and
without --smoke the script refuses in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NO_CUDA_ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # the same on a GPU machine


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "bench/gpu.py", *args], cwd=REPO, env=NO_CUDA_ENV,
                          capture_output=True, text=True, timeout=300)


def test_smoke_run_records_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    res = _bench("--smoke", "--out", str(out))
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    assert result["smoke"] is True and result["torch"]
    rows = {r["measurement"]: r for r in result["measurements"]}
    assert list(rows) == ["train", "ddp", "decode", "ssl"]
    assert [r["amp"] for r in result["measurements"] if r["measurement"] == "train"] == [
        "off", "bf16"]
    for name in ("train", "ddp", "ssl"):
        assert rows[name]["s_per_step"] > 0 and rows[name]["audio_s_per_wall_s"] > 0, name
    assert rows["ddp"]["processes"] == 2
    assert rows["decode"]["rtf"] > 0 and rows["decode"]["audio_s"] == 60.0
    assert "| measurement | model | AMP | GPUs |" in res.stdout


def test_without_cuda_exits_2_in_one_line(tmp_path: Path) -> None:
    res = _bench("--out", str(tmp_path / "gpu.json"))
    assert res.returncode == 2
    assert res.stderr.strip() == ("no CUDA device: bench/gpu.py measures the GPU path; use "
                                  "--smoke to check the script on the CPU")
    assert not (tmp_path / "gpu.json").exists()
