"""recipes/transcribe.py as a user runs it: files, a directory, a wav.scp; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from asrtl import load_model
from tests.conftest import _run, _run_here


@pytest.fixture(scope="module")
def run(api_run) -> Path:
    return api_run


def _lines(stdout: str) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in stdout.splitlines()]  # type: ignore[misc]


def test_files_directory_and_wav_scp(run, cache_dir, shared_clips, tmp_path):
    jfk = next(r["abspath"] for r in shared_clips if r["utt_id"] == "jfk_1")
    x, sr = sf.read(jfk, dtype="float32")
    flac8 = tmp_path / "jfk 8k.flac"  # a space in the name, 8 kHz
    sf.write(flac8, resample_poly(x, 1, 2).astype(np.float32), 8000)
    exp = tmp_path / "exp"
    model = load_model(run, device="cpu")

    # a list of files, beam search: stdout holds exactly one line per file
    res = _run("transcribe", f"checkpoint={run}", f"audio=[{jfk},'{flac8}']", "decode=beam",
               "beam_size=8", f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    want = model.transcribe([jfk, flac8], decode="beam", beam_size=8)
    assert res.stdout.splitlines() == [f"{jfk} {want[0].text}", f"{flac8} {want[1].text}"]
    out = json.loads((exp / "transcribe/turkish/transcripts.json").read_text())
    assert out["decode"] == "beam" and out["language"] == "turkish"
    assert [f["path"] for f in out["files"]] == [jfk, str(flac8)]
    for f, r in zip(out["files"], want, strict=True):
        assert f["text"] == r.text and f["duration_s"] == pytest.approx(11.0)
        assert [w["word"] for w in f["words"]] == r.text.split()
        assert all(0 <= w["start_s"] <= w["end_s"] <= f["duration_s"] for w in f["words"])

    # a directory: every audio file under it, sorted
    clips = Path(shared_clips[0]["abspath"]).parent.parent
    res = _run("transcribe", f"checkpoint={run}", f"audio={clips}", f"exp_dir={exp}",
               "name=clips", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    paths = sorted(r["abspath"] for r in shared_clips)
    got = _lines(res.stdout)
    assert [p for p, _ in got] == paths
    assert [t for _, t in got] == [r.text for r in model.transcribe(paths)]
    out = json.loads((exp / "transcribe/clips/transcripts.json").read_text())
    assert len(out["files"]) == len(shared_clips)

    # a Kaldi wav.scp without text: its ids
    scp = tmp_path / "data" / "wav.scp"
    scp.parent.mkdir()
    rows = [r for r in shared_clips if r["language"] in ("de", "fr")]
    scp.write_text("".join(f"{r['utt_id']} {r['abspath']}\n" for r in rows))
    res = _run("transcribe", f"checkpoint={run}/checkpoints/{_best(run)}", f"audio={scp}",
               f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert [i for i, _ in _lines(res.stdout)] == [r["utt_id"] for r in rows]
    # one checkpoint of the run: named after it (asrtl.layout.model_name)
    out = json.loads((exp / f"transcribe/turkish-{_best(run)}/transcripts.json").read_text())
    assert [f["id"] for f in out["files"]] == [r["utt_id"] for r in rows]


def _best(run: Path) -> str:
    return json.loads((run / "checkpoints/best.json").read_text())["name"]


def test_bad_inputs_fail_in_one_named_line(run, cache_dir, shared_clips, tmp_path):
    jfk = next(r["abspath"] for r in shared_clips if r["utt_id"] == "jfk_1")
    scp = tmp_path / "wav.scp"
    scp.write_text(f"a {jfk}\nb sox x.wav -t wav - |\n")
    cases = [
        ((f"checkpoint={run}", f"audio=[{jfk},{tmp_path}/missing.wav]"),
         f"audio file not found: {tmp_path}/missing.wav"),
        ((f"checkpoint={run}", f"audio={tmp_path}/nowhere"), f"audio not found: {tmp_path}"),
        ((f"checkpoint={run}", f"audio={scp}"), "'b' is a piped command"),
        ((f"checkpoint={tmp_path}", f"audio={jfk}"), f"no asrtl checkpoint at {tmp_path}"),
        ((f"checkpoint={run}",), "missing required setting(s): audio=..."),
    ]
    for args, needle in cases:
        res = _run_here("transcribe", *args, f"exp_dir={tmp_path}/exp", cache=cache_dir)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and lines and lines[-1].startswith("error: "), (args,
                                                                                    res.stderr)
        assert needle in lines[-1], (args, lines[-1])
        assert not [ln for ln in lines if "Traceback" in ln], (args, res.stderr)
        assert res.stdout == "", args
