"""LID on the embedded corpus: accuracy on held-out speakers, training time, the matrix and
leave-one-out rankings (one run of ``recipes/lid.py``), then scoring speed on the CPU.

    python bench/lid.py [--exp /tmp/lid-bench] [--languages bengali assamese thai turkish]

Writes ``bench/results/lid.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", default="/tmp/lid-bench")
    parser.add_argument("--languages", nargs="+",
                        default=["bengali", "assamese", "thai", "turkish"])
    parser.add_argument("--out", default="bench/results/lid.json")
    args = parser.parse_args()
    sources = f"sources=[{','.join(args.languages)}]"
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "recipes/lid.py", sources, f"exp_dir={args.exp}",
                          "+data.seed=0"], cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(res.stderr.strip().splitlines()[-1])
    recipe_s = time.perf_counter() - t0
    run = Path(args.exp) / "lid" / "+".join(args.languages)
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    rankings = json.loads((run / "rankings.json").read_text())

    from asrtl.data.manifest import prepare_corpus
    from asrtl.lid.model import load_lid
    from asrtl.lid.score import posteriors

    model, _ = load_lid(run)
    cuts = [c for lang in args.languages for c in
            prepare_corpus({"name": "embedded", "hours": 0.1, "seed": 0}, lang).cuts("test")]
    from lhotse import CutSet

    cuts = CutSet.from_cuts(cuts)
    posteriors(model, cuts.subset(first=20), torch.device("cpu"))  # warm-up
    t0 = time.perf_counter()
    post = posteriors(model, cuts, torch.device("cpu"))
    score_s = time.perf_counter() - t0
    out = {
        "bench": "lid", "languages": args.languages, "recipe_wall_s": round(recipe_s, 1),
        "train_s_full_classifier": round(sum(m["epoch_s"] for m in metrics), 1),
        "accuracy": json.loads((run / "accuracy.json").read_text()),
        "matrix": json.loads((run / "lid_matrix.json").read_text())["frame_mean"],
        "leave_one_out": {t: {"ranking": [r["source"] for r in v["ranking"]],
                              "scores": [r["score"] for r in v["ranking"]],
                              "top_share": v["top_share_bootstrap"][v["best"]]}
                          for t, v in rankings.items()},
        "scoring": {"frames": int(post.frames.sum()), "audio_s": round(sum(
            c.duration for c in cuts), 1), "wall_s": round(score_s, 2),
            "frames_per_s": round(post.frames.sum() / score_s),
            "threads": torch.get_num_threads(), "includes": "audio loading, fbank, model"},
    }
    print(json.dumps(out, indent=1))
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
