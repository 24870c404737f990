"""Faults of decoding and transcribing a trained run, as a user meets them (issue 31): an older
checkpoint's scores written over the run's own, ``data.cache_dir`` refused, a read-only run
found unwritable only after decoding, a log line before the error of an unreadable file."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import _run, _run_here
from tests.helpers import kaldi_dir


def snapshot(root: Path) -> dict[str, str]:
    """``{file: sha256}`` of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _copy(run: Path, to: Path) -> Path:
    """A copy of the session's run, to change (or fail to change) at will."""
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("tensorboard", "log"))
    return to


def _best_and_older(run: Path) -> tuple[str, str]:
    best = json.loads((run / "checkpoints/best.json").read_text())["name"]
    older = [p.name for p in sorted((run / "checkpoints").glob("step-*")) if p.name != best]
    assert older, f"{run} keeps no checkpoint but its best"
    return best, older[-1]


def test_an_older_checkpoint_does_not_overwrite_the_runs_own_results(pretrained, cache_dir,
                                                                       tmp_path):
    run = _copy(pretrained, tmp_path / "turkish")
    best, older = _best_and_older(run)
    own = {**snapshot(run / "results"), "MODEL_CARD.md": snapshot(run)["MODEL_CARD.md"]}
    res = _run("decode", f"checkpoint={run}/checkpoints/{older}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    now = {**snapshot(run / "results"), "MODEL_CARD.md": snapshot(run)["MODEL_CARD.md"]}
    assert {k: now.get(k) for k in own} == own  # the run's own results, untouched
    scores = json.loads((run / "results" / older / "test" / "scores.json").read_text())
    assert scores["checkpoint"] == str(run / "checkpoints" / older)
    assert f"-> {run / 'results' / older / 'test'}" in res.stdout
    # the run's own best, named by its step dir, still writes the run's results
    res = _run("decode", f"checkpoint={run}/checkpoints/{best}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"-> {run / 'results' / 'test'}" in res.stdout
    assert not (run / "results" / best).exists()


def test_decode_and_transcribe_honour_data_cache_dir(pretrained, cache_dir, shared_clips,
                                                     tmp_path):
    best = json.loads((pretrained / "checkpoints/best.json").read_text())["name"]
    meta = json.loads((pretrained / "checkpoints" / best / "meta.json").read_text())
    corpus = Path(meta["corpus"]["dir"])
    moved = tmp_path / "moved"  # the run's corpus (manifests) in another cache
    shutil.copytree(corpus.parent, moved / corpus.parent.relative_to(cache_dir),
                    ignore=shutil.ignore_patterns("audio"))
    exp = tmp_path / "exp"
    res = _run("decode", f"checkpoint={pretrained}", f"data.cache_dir={moved}",
               f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    scores = json.loads((exp / "decode/turkish/results/test/scores.json").read_text())
    assert scores["corpus"] == str(moved / corpus.relative_to(cache_dir))
    # another corpus, in the cache given
    kaldi = kaldi_dir(tmp_path / "kaldi", [r for r in shared_clips if r["language"] == "en"][:2])
    res = _run("decode", f"checkpoint={pretrained}", "data=kaldi", f"data.path={kaldi}",
               f"data.cache_dir={tmp_path}/kc", "language=english", "split=all",
               f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    scores = json.loads((exp / "decode/turkish/results/kaldi-english-all/scores.json")
                        .read_text())
    assert scores["corpus"].startswith(f"{tmp_path}/kc/kaldi/english/")
    # transcribe: the training words of a beam search come from the cache given
    clip = shared_clips[0]["abspath"]
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _run_here("transcribe", f"checkpoint={pretrained}", f"audio=[{clip}]", "decode=beam",
                    f"data.cache_dir={empty}", f"exp_dir={exp}", cache=cache_dir)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and str(empty) in lines[0], res.stderr
    res = _run("transcribe", f"checkpoint={pretrained}", f"audio=[{clip}]", "decode=beam",
               "beam_size=8", f"data.cache_dir={moved}", f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith(clip)
    # decode: the beam search's training words, too
    from asrtl.errors import MissingInput
    from asrtl.eval.decode import lexicon_words
    from asrtl.train.checkpoint import CheckpointMeta

    record = CheckpointMeta.from_dict(meta, "meta.json")
    assert lexicon_words("train", record.training_corpus(cache_dir=str(moved))) == \
        lexicon_words("train", record.training_corpus())
    with pytest.raises(MissingInput, match=str(empty)):
        lexicon_words("train", record.training_corpus(cache_dir=str(empty)))
    res = _run("decode", f"checkpoint={pretrained}", f"data.cache_dir={moved}", "decode=beam",
               "beam_size=8", f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    scores = json.loads((exp / "decode/turkish/results/test-beam/scores.json").read_text())
    assert scores["corpus"] == str(moved / corpus.relative_to(cache_dir))


@contextlib.contextmanager
def read_only(root: Path) -> Iterator[None]:
    """``root`` and every directory under it read-only for the block: mode 0555, and for root
    (whom modes do not stop) immutable (``chattr +i``), or the test is skipped."""
    dirs = [root, *(p for p in root.rglob("*") if p.is_dir())]
    pinned: list[str] = []
    try:
        for d in dirs:
            d.chmod(0o555)
        if os.access(root, os.W_OK):
            res = subprocess.run(["chattr", "+i", *map(str, dirs)], capture_output=True)
            pinned = [str(d) for d in dirs]
            if res.returncode or os.access(root, os.W_OK):
                pytest.skip(f"cannot make {root} read-only here: {res.stderr.strip()}")
        yield
    finally:
        if pinned:
            subprocess.run(["chattr", "-i", *pinned], capture_output=True)
        for d in dirs:
            d.chmod(0o755)


def test_a_read_only_run_fails_before_decoding_suggesting_exp_dir(pretrained, cache_dir,
                                                                    tmp_path):
    run = _copy(pretrained, tmp_path / "turkish")
    before = snapshot(run)
    with read_only(run):
        res = _run("decode", f"checkpoint={run}", cache=cache_dir)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert str(run / "results" / "test") in lines[0] and "exp_dir=" in lines[0], lines
    assert "reusing cached" not in res.stdout and "WER" not in res.stdout  # no work done
    assert snapshot(run) == before
    res = _run("decode", f"checkpoint={run}", f"exp_dir={tmp_path}/exp", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (tmp_path / "exp/decode/turkish/results/test/scores.json").is_file()


@pytest.mark.parametrize("content", [b"", b"RIFF not audio at all"], ids=["zero-byte", "fake"])
def test_transcribing_an_unreadable_wav_prints_one_line_and_nothing_else(
        content, pretrained, cache_dir, tmp_path):
    fake = tmp_path / "broken.wav"
    fake.write_bytes(content)
    res = _run("transcribe", f"checkpoint={pretrained}", f"audio=[{fake}]",
               f"exp_dir={tmp_path}/exp", cache=cache_dir)
    assert res.returncode == 2
    assert res.stdout == "" and "audioread" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(fake) in lines[0], lines
