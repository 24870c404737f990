"""How often each learning-dependent test passes over fresh corpus builds, seeds and threads.

    python tools/flake_check.py                       # N=10 runs of `pytest -m learning`
    python tools/flake_check.py --runs 4 tests/test_api.py
    make test-repeat                                  # the same, N=10

Run ``i`` (0-based) builds a fresh corpus in a fresh cache with ``data.seed=i`` and trains with
``seed=i`` (``ASRTL_TEST_DATA_SEED``, ``ASRTL_TEST_SEED``, read by ``tests/conftest.py``); the
runs alternate between the two ways the suite runs: ``make test``'s two xdist workers of one
thread each (``--threads 1``), and one pytest process on two threads (``--threads 2``, a plain
``pytest``). Each test's pass rate is printed and saved, with every run's outcomes and the
measurements the tests record (``ASRTL_TEST_RECORD``: the DDP test's weight differences, the
margins of the learning tests), to ``bench/results/flake_check.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def outcomes(junit: Path) -> dict[str, str]:
    """``{test id: passed|failed|error|skipped}`` of a JUnit XML report."""
    out = {}
    for case in ET.parse(junit).iter("testcase"):
        name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        kinds = {child.tag for child in case}
        out[name] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                     else "skipped" if "skipped" in kinds else "passed")
    return out


def one_run(i: int, threads: int, tests: list[str], marker: str, work: Path) -> dict:
    """Run ``i``: pytest on ``tests`` in a fresh basetemp (so a fresh corpus cache)."""
    junit, record = work / f"run-{i}.xml", work / f"record-{i}"
    record.mkdir()
    env = {**os.environ, "ASRTL_TEST_SEED": str(i), "ASRTL_TEST_DATA_SEED": str(i),
           "ASRTL_TEST_RECORD": str(record), "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}  # this tree's asrtl
    workers = ["-n", "2", "--dist", "loadfile"] if threads == 1 else ["-p", "no:xdist"]
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers,
           "-m", marker, f"--basetemp={work / f'tmp-{i}'}", f"--junitxml={junit}", *tests]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    got = outcomes(junit) if junit.is_file() else {}
    measured = {}
    for f in sorted(record.glob("*.json")):
        measured[f.stem] = json.loads(f.read_text())
    tail = res.stdout.strip().splitlines()[-1:] if res.stdout.strip() else []
    how = "2 workers" if threads == 1 else "1 process"
    print(f"run {i}: data.seed={i} seed={i} threads={threads} ({how}) {wall:.0f} s: "
          f"{tail[0] if tail else res.returncode}", flush=True)
    failed = {k: v for k, v in got.items() if v in ("failed", "error")}
    if failed:
        print("  not passed: " + ", ".join(sorted(failed)), flush=True)
    return {"run": i, "data_seed": i, "seed": i, "threads": threads, "wall_s": round(wall, 1),
            "exit": res.returncode, "outcomes": got, "measured": measured,
            "failures": _failure_lines(res.stdout) if failed else []}


def _failure_lines(stdout: str) -> list[str]:
    """pytest's short summary lines (``FAILED ...``/``ERROR ...``)."""
    return [ln for ln in stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))][:20]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tests", nargs="*", help="test files or ids (default: the whole suite)")
    p.add_argument("--runs", type=int, default=10, help="N fresh corpus builds and seeds")
    p.add_argument("--first", type=int, default=0, help="the first run's seed")
    p.add_argument("--threads", default="1,2", help="thread counts, alternated over runs")
    p.add_argument("--marker", default="learning", help="pytest -m expression")
    p.add_argument("--label", default="", help="a name for this measurement (before/after)")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "flake_check.json"),
                   help="the JSON, rewritten after every run")
    a = p.parse_args()
    if a.runs < 1:
        p.error(f"--runs must be >= 1, got {a.runs}")
    threads = [int(t) for t in a.threads.split(",")]
    if not threads or any(t not in (1, 2) for t in threads):
        p.error(f"--threads: 1 and/or 2, got {a.threads!r}")
    runs: list[dict] = []
    label = a.label or time.strftime("%Y-%m-%dT%H:%M")
    with tempfile.TemporaryDirectory(prefix="asrtl-flake-") as tmp:
        for i in range(a.first, a.first + a.runs):
            runs.append(one_run(i, threads[(i - a.first) % len(threads)], a.tests, a.marker,
                                Path(tmp)))
            rates = save(Path(a.out), label, a, threads, runs)  # after every run: a stopped
    print(f"\npass rates over {len(runs)} runs (fresh corpus build and seed each):")
    tests = sorted(rates)
    for t in sorted(tests, key=lambda t: (rates[t]["passed"] / max(rates[t]["runs"], 1), t)):
        mark = "" if rates[t]["passed"] == rates[t]["runs"] else "   <-- below 100 %"
        print(f"  {rates[t]['passed']:2d}/{rates[t]['runs']:<2d} {t}{mark}")
    print(f"-> {a.out} [{label}]")
    sys.exit(0 if all(r["passed"] == r["runs"] for r in rates.values()) else 1)


def save(out: Path, label: str, a: argparse.Namespace, threads: list[int], runs: list[dict]
         ) -> dict[str, dict[str, int]]:
    """Writes the measurement ``label`` (its runs so far and each test's pass rate) into
    ``out``, beside the measurements already there; returns the pass rates."""
    tests = sorted({t for r in runs for t in r["outcomes"]})
    rates = {t: {"passed": sum(r["outcomes"].get(t) == "passed" for r in runs),
                 "runs": sum(t in r["outcomes"] for r in runs)} for t in tests}
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc.setdefault("measurements", {})[label] = {
        "marker": a.marker, "tests": a.tests, "threads": threads, "machine": platform.node(),
        "cpus": os.cpu_count(), "git_commit": _commit(), "pass_rates": rates, "runs": runs}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(doc, indent=1))
    os.replace(tmp_out, out)
    return rates


def _commit() -> str | None:
    res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return res.stdout.strip() or None


if __name__ == "__main__":
    main()
