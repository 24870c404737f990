"""Distributed data parallel on this machine's CPUs: one process with N threads against
``torchrun --nproc_per_node=N`` with one thread each, the same recipe, data and epochs.

    python bench/ddp_cpu.py [--procs 2] [--model tiny] [--epochs 3]

Both runs train the same plan of batches (N processes take N batches per step, so the
single process runs with ``train.accum_grad=N``: the same steps, the same results up to
float noise). Reports the steps, training wall time and the dev and test CER of each.
Writes ``bench/results/ddp_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def train(exp: Path, procs: int, threads: int, args: argparse.Namespace) -> dict:
    common = [f"language={args.language}", f"model={args.model}", f"data.hours={args.hours}",
              f"train.epochs={args.epochs}", "train.batch_duration_s=30", "decode.beam=false",
              "device=cpu", f"exp_dir={exp}"]
    if procs == 1:
        cmd = [sys.executable, "recipes/pretrain.py", *common, f"train.accum_grad={args.procs}"]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={procs}", "recipes/pretrain.py", *common]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise SystemExit(res.stderr.strip().splitlines()[-1])
    run = exp / "pretrain" / args.language
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    scores = json.loads((run / "results" / "test" / "scores.json").read_text())
    return {"processes": procs, "threads_each": threads, "steps": rows[-1]["step"],
            "train_wall_s": scores["train_wall_s"], "valid_cer": rows[-1]["valid_cer"],
            "test_cer": scores["cer"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--language", default="turkish")
    parser.add_argument("--hours", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="bench/results/ddp_cpu.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        single = train(Path(tmp) / "single", 1, args.procs, args)
        ddp = train(Path(tmp) / "ddp", args.procs, 1, args)
    out = {"bench": "ddp_cpu", "cores": os.cpu_count(), "model": args.model,
           "hours": args.hours, "epochs": args.epochs, "single": single, "ddp": ddp,
           "ddp_over_single_wall": round(ddp["train_wall_s"] / single["train_wall_s"], 3)}
    print(json.dumps(out, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
