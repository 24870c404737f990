"""What helps in a fixed CPU budget: pretraining variants on the embedded Turkish corpus.

    python bench/pretrain_budget.py [--hours 0.5] [--configs A B ...]

Each variant runs ``recipes/pretrain.py`` (greedy decoding of the test split: 240 utterances
by 16 voices never heard in training) with an epoch count chosen to fill about the same
training wall time (the prototype's budget: 5 minutes on these 2 cores). Writes
``bench/results/pretrain_budget.json``; one process at a time, nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# name -> (overrides, what it tests)
VARIANTS = {
    "A": (["model=tiny", "train.epochs=25"], "tiny Conformer, SpecAugment, 60 s batches"),
    "B": (["model=tiny", "train.epochs=25", "train.spec_augment=false"], "A without SpecAugment"),
    "C": (["model=tiny", "train.epochs=20", "train.batch_duration_s=30"], "A with 30 s batches"),
    "D": (["model=small", "train.epochs=10"], "small Conformer (4 M)"),
    "E": (["model=tiny", "model.encoder=lstm", "model.dim=256", "model.num_layers=3",
           "train.epochs=14"], "BiLSTM 3x256 (prototype-like)"),
    "F": (["model=tiny", "train.epochs=25", "train.schedule=constant", "train.lr=1e-3"],
          "A with the prototype's constant 1e-3"),
    "G": (["model=tiny", "train.epochs=13", "data.hours=1.0"],
          "A's steps over 1 h of audio (more voices and sentences, fewer epochs)"),
    "H": (["model=tiny", "train.epochs=10", "train.batch_duration_s=30", "data.hours=1.0"],
          "C's steps over 1 h of audio"),
}


def run(name: str, hours: float, exp: Path) -> dict:
    overrides, what = VARIANTS[name]
    cmd = [sys.executable, "recipes/pretrain.py", "language=turkish", f"data.hours={hours}",
           f"exp_dir={exp / name}", "decode.beam=false", "train.num_workers=1", *overrides]
    # (a variant's own data.hours comes later on the command line and wins)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        return {"variant": name, "what": what, "error": res.stderr.strip().splitlines()[-1]}
    run_dir = exp / name / "pretrain" / "turkish"
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    test = json.loads((run_dir / "results" / "test" / "scores.json").read_text())
    return {"variant": name, "what": what, "overrides": overrides,
            "train_wall_s": test["train_wall_s"], "total_wall_s": round(wall, 1),
            "epochs": len(rows), "steps": rows[-1]["step"],
            "best_valid_cer": min(r["valid_cer"] for r in rows),
            "test_cer": round(test["cer"], 4), "test_wer": round(test["wer"], 4),
            "first_epoch_valid_cer_below_0.5": next(
                (r["epoch"] for r in rows if r["valid_cer"] < 0.5), None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5)
    parser.add_argument("--configs", nargs="+", default=list(VARIANTS))
    parser.add_argument("--out", default="bench/results/pretrain_budget.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.configs:
            results.append(run(name, args.hours, Path(tmp)))
            print(json.dumps(results[-1]), flush=True)
    out = {"bench": "pretrain_budget", "hours": args.hours, "cores": os.cpu_count(),
           "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
