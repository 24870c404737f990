"""Fixtures built once per run: a tiny two-language embedded corpus and the shared real clips."""

from __future__ import annotations

import csv
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
# under pytest-xdist (`make test` runs two workers on the 2 cores) every worker and the
# recipes it starts compute on one thread: two workers of two threads each oversubscribe
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
if WORKER:
    os.environ.update(ONE_THREAD)
SHARED_DATA = REPO.parent / "shared" / "data"
# tools/flake_check.py (`make test-repeat`) varies these run by run: a fresh corpus build
# (data.seed) and the training seed; `make test` runs with both at 0
DATA_SEED = int(os.environ.get("ASRTL_TEST_DATA_SEED", "0"))
SEED = int(os.environ.get("ASRTL_TEST_SEED", "0"))
TINY = {"name": "embedded", "hours": 0.02, "dev_utts": 12, "test_utts": 24, "adapt_utts": 8,
        "hard_speakers": 4, "workers": 2, "seed": DATA_SEED}
TINY_DATA = [f"data.{k}={v}" for k, v in TINY.items() if k != "name"]
TINY_MODEL = dict(name="tiny", dim=96, num_layers=3, heads=4, ffn_dim=384,
                  subsampling_channels=32)
# recipes/pretrain.py on the tiny corpus: 3 epochs (the recipe tests, the kill tests)
TRAIN = ["language=turkish", "model=tiny", "train.epochs=3", "train.batch_duration_s=12",
         "train.checkpoint_every_steps=4", "train.num_workers=0", "train.lr=3e-3",
         "train.warmup_steps=10", "decode.beam_size=8", f"seed={SEED}", *TINY_DATA]
# Until it emits text, not only blanks, so that comparing transcripts means something (the
# API, transcribe and model-card tests): the tiny model leaves CTC's all-blank plateau after
# 8 to over 15 epochs, by the corpus build and the CPU's kernels, so it trains until its dev
# CER is at most API_STOP_CER (train.stop_cer), 40 epochs at most, and the fixture fails,
# saying so, if it never gets there (tools/flake_check.py measures how often)
API_STOP_CER = 0.8
API_TRAIN = [*(a for a in TRAIN if not a.startswith(("train.epochs=", "train.lr="))),
             "train.epochs=40", f"train.stop_cer={API_STOP_CER}", "train.lr=5e-3"]


# `make test` runs `pytest -n 2 --dist loadfile`: each test file is one unit of work for a
# worker, and (the scheduler below) files sharing a costly session fixture are one unit
# together, so that it is built once, on one worker; the slowest units go first, so that the
# two workers finish together (seconds: the `--durations=0` of a full run, BENCHMARKS.md)
SHARED_FIXTURES = {"tests/recipes/test_transfer.py": "tiny_exp",  # the tiny sources
                   "tests/recipes/test_rank.py": "tiny_exp",
                   "tests/recipes/test_pretrain_decode.py": "pretrained",
                   "tests/recipes/test_speaker_adapt.py": "pretrained",
                   "tests/faults/test_decode_faults.py": "pretrained",
                   "tests/faults/test_checkpoint_faults.py": "pretrained",
                   "tests/test_api.py": "api_run", "tests/train/test_model_card.py": "api_run",
                   "tests/recipes/test_transcribe.py": "api_run",
                   "tests/recipes/test_pseudo_label.py": "api_run"}
SLOWEST_FIRST = ["pretrained", "tiny_exp", "tests/recipes/test_study.py",
                 "tests/test_ssl_transfer.py", "api_run", "tests/recipes/test_phones.py",
                 "tests/test_export.py",
                 "tests/recipes/test_lid.py",
                 "tests/train/test_distributed.py", "tests/recipes/test_export.py",
                 "tests/recipes/test_multilingual.py", "tests/test_bench_gpu.py",
                 "tests/train/test_training.py", "tests/test_install.py"]


def record(name: str, **values: Any) -> None:
    """Saves what a test measured (a margin, a difference) as ``<name>.json`` in
    ``$ASRTL_TEST_RECORD`` when tools/flake_check.py sets it: the distribution over runs that
    a tolerance or a bound is set from. Nothing otherwise."""
    where = os.environ.get("ASRTL_TEST_RECORD")
    if where:
        import json

        Path(where, f"{name}.json").write_text(json.dumps(values, default=float))


def reached(run_dir: Path, stop_cer: float, name: str) -> list[dict]:
    """The metrics rows of a run trained with ``train.stop_cer``; fails the test, naming the
    fixture, when its dev CER never got to ``stop_cer`` within its cap of epochs (recorded
    for tools/flake_check.py either way)."""
    from asrtl.train.state import read_metrics

    rows = read_metrics(run_dir)
    best = min(r["valid_cer"] for r in rows)
    record(name, epochs=len(rows), best_dev_cer=best, stop_cer=stop_cer)
    if best > stop_cer:
        why = ("the model did not leave the all-blank plateau" if best > 0.9 else
               "it learned, but not to the bound: the model's floor on this corpus build")
        pytest.fail(f"{name}: dev CER never reached {stop_cer} in {len(rows)} epochs (best "
                    f"{best:.3f}): {why}")
    return rows


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or the group of files of
    :data:`SHARED_FIXTURES`."""
    path = nodeid.split("::")[0]
    return SHARED_FIXTURES.get(path, path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    order = {unit: i for i, unit in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: order.get(work_unit(item.nodeid), len(order)))  # stable


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: ignored without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadfile``: :func:`work_unit` as the scope, sent in collection order
    (slowest first) rather than by number of tests. (xdist's ``loadgroup`` would do it with
    marks, but it cannot rename test ids under pytest 9.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ByWorkUnit(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False
    return ByWorkUnit(config, log)


def _cmd(recipe: str, *args: str) -> list[str]:
    return [sys.executable, f"recipes/{recipe}.py", *args]


def _env(cache: Path) -> dict:
    env = {"ASRTL_CACHE": str(cache), "PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME",
                                                                                       "/tmp")}
    if os.environ.get("PYTHONPATH"):  # tools/flake_check.py on another checkout of the tree
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**env, **ONE_THREAD} if WORKER else env


def _run(recipe: str, *args: str, cache: Path, timeout: int = 600):
    """A recipe as a user runs it (a subprocess with a private cache)."""
    return subprocess.run(_cmd(recipe, *args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=_env(cache))


def _run_here(recipe: str, *args: str, cache: Path) -> subprocess.CompletedProcess:
    """A recipe run inside this process, as :func:`_run` runs it in a subprocess: the same exit
    code, stdout and stderr, without the 2 s of starting Python and importing torch. For the
    checks that fail before any work (bad inputs); what trains runs in a subprocess."""
    import contextlib
    import io
    import runpy

    from asrtl.train import run as runs

    held = set(runs._HELD)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # Hydra configures logging per run
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cache = sys.argv, os.environ.get("ASRTL_CACHE")
    sys.argv, os.environ["ASRTL_CACHE"] = [f"recipes/{recipe}.py", *args], str(cache)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(REPO / "recipes" / f"{recipe}.py"), run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
            handler.close()  # the run's log file
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        for key in set(runs._HELD) - held:  # the run dirs it took: a subprocess would have
            os.close(runs._HELD.pop(key))   # ended, and the kernel released their locks
        sys.argv = saved_argv
        if saved_cache is None:
            os.environ.pop("ASRTL_CACHE", None)
        else:
            os.environ["ASRTL_CACHE"] = saved_cache
    return subprocess.CompletedProcess(_cmd(recipe, *args), code, out.getvalue(),
                                       err.getvalue())


def _start(recipe: str, *args: str, cache: Path) -> subprocess.Popen:
    """A recipe in the background, its stdout and stderr merged, line by line, unbuffered (its
    own session: ``os.killpg`` ends it and the jobs it starts)."""
    return subprocess.Popen(_cmd(recipe, *args), cwd=REPO, env={**_env(cache),
                                                                "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def wait_for_line(proc: subprocess.Popen, pattern: str, timeout: float = 300
                  ) -> re.Match:
    """Reads ``proc``'s output until a line matches ``pattern`` (blocking reads: no sleeps,
    no polling); the process is killed after ``timeout`` seconds.

    Raises:
        AssertionError: the process ended, or timed out, before such a line.
    """
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    seen: list[str] = []
    try:
        for line in proc.stdout:
            match = re.search(pattern, line)
            if match:
                return match
            seen = [*seen[-20:], line]
    finally:
        timer.cancel()
    raise AssertionError(f"no line matching {pattern!r} before the process ended "
                         f"(exit {proc.wait()}):\n" + "".join(seen))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private corpus cache for the whole test run (never the user's)."""
    path = tmp_path_factory.mktemp("asrtl-cache")
    os.environ["ASRTL_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def tiny_corpora(cache_dir: Path) -> dict:
    """Bengali and Turkish, about a minute of training audio each."""
    from asrtl.data.manifest import prepare_corpus

    return {lang: prepare_corpus(dict(TINY, cache_dir=str(cache_dir)), lang)
            for lang in ("bengali", "turkish")}


@pytest.fixture(scope="session")
def shared_clips() -> list[dict]:
    """Rows of ``../shared/data/manifest.csv`` with absolute paths (read in place)."""
    manifest = SHARED_DATA / "manifest.csv"
    if not manifest.is_file():
        pytest.fail(f"shared real clips not found: {manifest}")
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["abspath"] = str(SHARED_DATA / row["path"])
        row["utt_id"] = Path(row["path"]).stem
    return rows


@pytest.fixture(scope="session")
def pretrained(tiny_corpora, cache_dir, tmp_path_factory) -> Path:
    """A tiny Turkish run of recipes/pretrain.py (3 epochs), once per test run."""
    exp = tmp_path_factory.mktemp("exp-a")
    res = _run("pretrain", *TRAIN, f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "turkish test greedy: WER" in res.stdout and "turkish test beam: WER" in res.stdout
    return exp / "pretrain" / "turkish"


@pytest.fixture(scope="session")
def api_run(tiny_corpora, cache_dir, tmp_path_factory) -> Path:
    """A tiny Turkish run trained until it emits text (:data:`API_TRAIN`), once per test
    run."""
    exp = tmp_path_factory.mktemp("api-exp")
    res = _run("pretrain", *API_TRAIN, f"exp_dir={exp}", cache=cache_dir)
    assert res.returncode == 0, res.stderr[-3000:]
    reached(exp / "pretrain" / "turkish", API_STOP_CER, "api_run")
    return exp / "pretrain" / "turkish"


@pytest.fixture(scope="session")
def tiny_exp(tmp_path_factory) -> Path:
    """One exp_dir for the transfer and rank recipe tests: a tiny source pretrained by one
    (the recipes pretrain a missing source) is reused by the other, as a user's would be."""
    return tmp_path_factory.mktemp("exp-sources")
