"""Transfer vs scratch at demo scale, over seeds: bengali 0.1 h from scratch, from assamese
and from turkish (0.6 h sources), ``strategy=finetune``, model tiny, 10 epochs, 30 s batches.

    python bench/transfer_demo.py [--seeds 0 1 2] [--exp /tmp/transfer-demo]

The corpus is pinned (``+data.seed=0``): seeds vary initialisation and batching only. Each
source is pretrained once (seed 0) and reused. Writes ``bench/results/transfer_demo.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMON = ["target=bengali", "model=tiny", "train.epochs=10", "train.batch_duration_s=30",
          "target_hours=0.1", "source_hours=0.6", "+data.seed=0", "decode.beam=false"]


def transfer(exp: Path, seed: int, source: str, checkpoint: Path | None) -> dict:
    args = [f"source={source}", f"seed={seed}", f"exp_dir={exp / f'seed{seed}'}", *COMMON]
    if checkpoint is not None:
        args.append(f"source_checkpoint={checkpoint}")
    res = subprocess.run([sys.executable, "recipes/transfer.py", *args], cwd=REPO,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr.strip().splitlines()[-1])
    run = exp / f"seed{seed}" / "transfer" / f"{source}-to-bengali" / "finetune"
    return json.loads((run / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--exp", default="/tmp/transfer-demo")
    parser.add_argument("--out", default="bench/results/transfer_demo.json")
    args = parser.parse_args()
    exp = Path(args.exp)
    rows = []
    for seed in args.seeds:
        for source in ("none", "assamese", "turkish"):
            ckpt = (exp / f"seed{args.seeds[0]}" / "pretrain" / f"{source}-0.6h"
                    if seed != args.seeds[0] and source != "none" else None)
            s = transfer(exp, seed, source, ckpt)
            rows.append({"seed": seed, "source": source, "cer": round(s["cer"], 4),
                         "wer": round(s["wer"], 4), "wall_s": s["wall_s"], "steps": s["steps"]})
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for source in ("none", "assamese", "turkish"):
        cers = [r["cer"] for r in rows if r["source"] == source]
        summary[source] = {"cer_mean": round(statistics.mean(cers), 4),
                           "cer_min": min(cers), "cer_max": max(cers),
                           "wer_mean": round(statistics.mean(
                               r["wer"] for r in rows if r["source"] == source), 4)}
    out = {"bench": "transfer_demo", "settings": COMMON, "runs": rows, "summary": summary}
    print(json.dumps(summary, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
