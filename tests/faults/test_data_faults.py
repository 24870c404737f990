"""Faults of corpora as a user meets them (issue 31): an audio file fixed in place behind a
cached import, a zero-byte or fake ``.wav``, ``kill -9`` during synthesis, utterances kept
but noted. Each case: the right corpus, one line naming the bad thing and nothing else, a
rerun that works."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asrtl.data import manifest
from asrtl.data.manifest import format_summary, prepare_corpus
from tests.conftest import _cmd, _env, _run
from tests.data.test_babel import _pack
from tests.helpers import data_config, kaldi_dir

REPO = Path(__file__).resolve().parents[2]


def _english(shared_clips: list[dict], root: Path) -> list[dict]:
    """The 17 English clips, copied under ``root`` (outside the Kaldi dir, as audio often
    is), rows pointing at the copies."""
    root.mkdir(parents=True)
    rows = []
    for row in (r for r in shared_clips if r["language"] == "en"):
        copy = root / Path(row["abspath"]).name
        shutil.copyfile(row["abspath"], copy)
        rows.append({**row, "abspath": str(copy)})
    return rows


def _utterances(corpus: manifest.Corpus) -> int:
    return sum(len(corpus.cuts(s)) for s in corpus.splits)


def test_an_audio_file_fixed_in_place_rebuilds_the_cached_import(shared_clips, tmp_path):
    rows = _english(shared_clips, tmp_path / "audio" / "en")
    kaldi = kaldi_dir(tmp_path / "kaldi", rows)
    bad = Path(rows[3]["abspath"])
    good = bad.read_bytes()
    sf.write(bad, np.zeros(0, dtype=np.float32), 16000)  # a WAV of no samples
    cfg = data_config("kaldi", kaldi, tmp_path / "cache", skip_bad=True)
    first = prepare_corpus(cfg, "english")
    assert _utterances(first) == len(rows) - 1 == 16
    assert first.summary["bad_utterances"] == {"zero_length": 1}
    bad.write_bytes(good)  # fixed in place: same name, the Kaldi dir untouched
    fixed = prepare_corpus(cfg, "english")
    assert fixed.dir != first.dir
    assert _utterances(fixed) == 17 and fixed.summary["bad_utterances"] == {}


def test_a_cache_from_before_the_audio_key_is_kept_until_its_audio_changes(
        shared_clips, tmp_path, monkeypatch):
    rows = _english(shared_clips, tmp_path / "audio" / "en")[:6]
    kaldi = kaldi_dir(tmp_path / "kaldi", rows)
    cfg = data_config("kaldi", kaldi, tmp_path / "cache")
    built = prepare_corpus(cfg, "english")
    # where asrtl put it before its key covered the audio files: the same params, less those
    params = {k: v for k, v in built.summary["params"].items() if k != "audio"}
    legacy = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    old = built.dir.parent.with_name(legacy)
    built.dir.parent.rename(old)
    with monkeypatch.context() as m:
        m.setitem(manifest.IMPORTERS, "kaldi", lambda *a: pytest.fail("imported again"))
        assert prepare_corpus(cfg, "english").dir.parent == old
    time.sleep(0.01)
    os.utime(rows[0]["abspath"])  # written again since that corpus was built
    again = prepare_corpus(cfg, "english")
    assert again.dir.parent != old and _utterances(again) == 6


@pytest.mark.parametrize("content", [b"", b"RIFF not audio at all"], ids=["zero-byte", "fake"])
@pytest.mark.parametrize("recipe", ["prepare", "pretrain"])
def test_unreadable_wav_in_a_kaldi_dir_fails_in_one_line_and_nothing_else(
        recipe, content, shared_clips, tmp_path):
    rows = [r for r in shared_clips if r["language"] == "en"][:3]
    fake = tmp_path / "broken.wav"
    fake.write_bytes(content)
    kaldi = kaldi_dir(tmp_path / "kaldi", [*rows, {**rows[0], "utt_id": "broken",
                                                   "abspath": str(fake)}])
    extra = ["model=tiny"] if recipe == "pretrain" else []
    res = _run(recipe, "data=kaldi", f"data.path={kaldi}", "language=english", *extra,
               f"exp_dir={tmp_path}/exp", cache=tmp_path / "cache", timeout=120)
    assert res.returncode == 2
    assert "audioread" not in res.stdout + res.stderr, res.stdout + res.stderr
    assert res.stdout.strip() == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(fake) in lines[0], lines


def _group(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.split("/")[2]))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_kill_9_during_synthesis_leaves_no_worker_and_no_traceback(tmp_path):
    cache = tmp_path / "cache"
    args = ["language=turkish", "data.hours=0.05", "data.dev_utts=12", "data.test_utts=24",
            "data.adapt_utts=8", "data.hard_speakers=4", "data.workers=2",
            f"exp_dir={tmp_path}/exp"]
    with (tmp_path / "stderr.txt").open("w") as err:  # the workers' stderr too
        proc = subprocess.Popen(_cmd("prepare", *args), cwd=REPO, env=_env(cache),
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not glob.glob(f"{cache}/embedded/turkish/*/audio/*.flac"):  # synthesis began
            assert proc.poll() is None, (tmp_path / "stderr.txt").read_text()
            assert time.monotonic() < deadline, "no audio synthesised in 120 s"
            time.sleep(0.05)
        assert len(_group(proc.pid)) >= 3  # the recipe and its two workers (and a tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while _group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _group(proc.pid)
    finally:
        for pid in _group(proc.pid):  # whatever the test leaves, ended by its id
            os.kill(pid, signal.SIGKILL)
    assert not left, f"orphaned workers still running: {left}"
    printed = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in printed and "leaked" not in printed, printed
    assert not list(cache.glob("embedded/turkish/*/audio/.*.tmp.flac"))
    rerun = _run("prepare", *args, cache=cache, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "synthesis:" in rerun.stdout


def test_out_of_script_utterances_kept_are_not_reported_as_dropped(shared_clips, tmp_path):
    pack, sides = _pack(tmp_path, shared_clips)
    utts = sum(len(segments) for segments in sides.values())
    corpus = prepare_corpus(data_config("babel", pack, tmp_path / "c"), "bengali")  # warn
    assert _utterances(corpus) == utts == 16  # every one kept
    assert corpus.summary["dropped_utterances"] == {}
    assert corpus.summary["noted_utterances"] == {"out_of_script": utts}
    report = format_summary(corpus)
    assert "dropped" not in report and "bad utterances" not in report, report
    assert f"kept, noted: {{'out_of_script': {utts}}}" in report
    # dropped ones still are reported as such, apart from the kept ones
    audio = next(pack.rglob("dev/audio/*.sph"))
    audio.unlink()
    fewer = prepare_corpus(data_config("babel", pack, tmp_path / "c", skip_bad=True), "bengali")
    assert fewer.summary["dropped_utterances"] == {"missing_recording": 1}
    assert fewer.summary["noted_utterances"] == {"out_of_script": utts - 2}
    report = format_summary(fewer)
    assert "bad utterances dropped: {'missing_recording': 1}" in report
