"""Multilingual vs monolingual at the same budget, and the multilingual encoder as a transfer
source against single sources.

    python bench/multilingual.py                       # about 25 min on 2 cores
    python bench/multilingual.py --mono-from /tmp/demo-study/study/<name>   # reuse its runs

1. ``recipes/multilingual.py`` on the sources (0.6 h each, the demo scale: tiny, 10 epochs).
2. The monolingual models of the same budget (``recipes/pretrain.py``, same settings), or
   the finished ones of a study with identical settings (checked) copied in.
3. ``recipes/transfer.py`` to the target (0.1 h) from the multilingual encoder and from each
   single source, over seeds (the corpus pinned: seeds vary initialisation and batching).

Writes ``bench/results/multilingual.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCALE = ["model=tiny", "train.epochs=10", "train.batch_duration_s=30", "decode.beam=false"]
PIN = "+data.seed=0"  # transfers: seeds vary initialisation and batching, not the corpus


def run(recipe: str, *args: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, f"recipes/{recipe}.py", *args], cwd=REPO,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{recipe} {' '.join(args)}: {res.stderr.strip().splitlines()[-1]}")
    print(res.stdout.strip(), flush=True)
    return round(time.perf_counter() - t0, 1)


def scores(path: Path) -> dict:
    d = json.loads(path.read_text())
    return {"wer": d["wer"], "cer": d["cer"]}


def same_budget(a: dict, b: dict) -> bool:
    """The settings that make a budget: data (hours, corpus), model, training, seed."""
    data = ("hours", "dev_utts", "test_utts", "speed", "noise_snr_db", "sample_rate")
    common = a["train"].keys() & b["train"].keys()  # settings added to asrtl since: defaults
    return (a["model"] == b["model"] and a["seed"] == b["seed"]
            and all(a["train"][k] == b["train"][k] for k in common)
            and all(a["data"].get(k) == b["data"].get(k) for k in data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", default=["assamese", "thai", "turkish"])
    parser.add_argument("--target", default="bengali")
    parser.add_argument("--hours", type=float, default=0.6)
    parser.add_argument("--target-hours", type=float, default=0.1)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--exp", default="/tmp/ml-bench")
    parser.add_argument("--mono-from", help="a study dir whose pretrain/<lang>-<h>h runs to reuse")
    parser.add_argument("--out", default="bench/results/multilingual.json")
    args = parser.parse_args()
    exp = Path(args.exp)
    name = "+".join(args.sources)
    out: dict = {"bench": "multilingual", "sources": args.sources, "target": args.target,
                 "hours": args.hours, "target_hours": args.target_hours,
                 "temperature": args.temperature, "scale": SCALE, "wall_s": {}}

    out["wall_s"]["multilingual"] = run(
        "multilingual", f"languages=[{','.join(args.sources)}]", f"data.hours={args.hours}",
        f"temperature={args.temperature}", *SCALE, f"exp_dir={exp}")
    ml_dir = exp / "multilingual" / name
    ml_config = json.loads((ml_dir / "run.json").read_text())
    out["sampling"] = json.loads((ml_dir / "summary.json").read_text())["sampling"]
    rows = [json.loads(line) for line in (ml_dir / "metrics.jsonl").read_text().splitlines()]
    out["multilingual_steps"] = rows[-1]["step"]
    out["multilingual_epoch_s"] = [r["epoch_s"] for r in rows]  # wall_s: a rerun only scores

    per_language = {}
    for lang in args.sources:
        mono = exp / "pretrain" / f"{lang}-{args.hours:g}h"
        reused = args.mono_from and (Path(args.mono_from) / "pretrain" / mono.name).is_dir()
        if reused and not mono.exists():
            shutil.copytree(Path(args.mono_from) / "pretrain" / mono.name, mono)
        if not (mono / "results" / "test" / "scores.json").is_file():
            out["wall_s"][f"pretrain {lang}"] = run(
                "pretrain", f"language={lang}", f"data.hours={args.hours}", *SCALE,
                f"exp_dir={exp}", f"hydra.run.dir={mono}")
        if not same_budget(json.loads((mono / "run.json").read_text()), ml_config):
            raise SystemExit(f"{mono} was trained with other settings than {ml_dir}")
        per_language[lang] = {
            "monolingual": scores(mono / "results" / "test" / "scores.json"),
            "multilingual": scores(ml_dir / "results" / lang / "test" / "scores.json"),
            "monolingual_reused_from": str(args.mono_from) if reused else None}
    out["per_language"] = per_language

    transfer: dict = {}
    for source in [f"multilingual:{name}", *args.sources]:
        rows = []
        for seed in args.seeds:
            run_dir = exp / "transfer" / f"{source}-to-{args.target}" / f"seed{seed}"
            if not (run_dir / "summary.json").is_file():
                out["wall_s"][f"transfer {source} seed {seed}"] = run(
                    "transfer", f"source={source}", f"target={args.target}",
                    f"target_hours={args.target_hours}", f"source_hours={args.hours}", *SCALE,
                    PIN, f"seed={seed}", f"exp_dir={exp}", f"hydra.run.dir={run_dir}")
            s = json.loads((run_dir / "summary.json").read_text())
            rows.append({"seed": seed, "wer": s["wer"], "cer": s["cer"]})
        transfer[source] = {"runs": rows, **{
            f"{m}_{f.__name__}": round(f([r[m] for r in rows]), 4)
            for m in ("wer", "cer") for f in (statistics.mean, min, max)}}
        Path(args.out).write_text(json.dumps({**out, "transfer": transfer}, indent=1) + "\n")
    out["transfer"] = transfer
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("per_language", "transfer")}, indent=1))


if __name__ == "__main__":
    main()
