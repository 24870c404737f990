"""Speaker adaptation on the embedded corpus's hard held-out speakers: WER/CER before and after
adapting on k = 1, 2, 5, 10 utterances, per method, with the spread over speakers.

    python bench/speaker_adapt.py --checkpoint /tmp/demo-study/study/.../pretrain/turkish-0.6h

Each speaker's 10 other utterances evaluate (the same for every k). Writes
``bench/results/speaker_adapt.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
METHODS = ["lhuc", "finetune_lower", "finetune_all", "kl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--exp", default="/tmp/adapt-bench")
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--out", default="bench/results/speaker_adapt.json")
    args = parser.parse_args()
    out = {"bench": "speaker_adapt", "checkpoint": args.checkpoint, "methods": {}}
    for method in args.methods:
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "recipes/speaker_adapt.py",
                              f"checkpoint={args.checkpoint}", "speakers=all",
                              "utts=[1,2,5,10]", f"method={method}", f"exp_dir={args.exp}"],
                             cwd=REPO, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr.strip().splitlines()[-1])
        run = Path(args.exp) / "adapt" / Path(args.checkpoint).name / method
        results = json.loads((run / "results.json").read_text())
        out["methods"][method] = {"wall_s": round(time.perf_counter() - t0, 1),
                                  "speakers": len(results["speakers"]),
                                  "summary": results["summary"]}
        print(res.stdout.strip(), flush=True)
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
