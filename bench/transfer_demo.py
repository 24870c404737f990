"""The reference study's shape at demo scale, over seeds, and every strategy for two sources.

    python bench/transfer_demo.py [--seeds 0 1 2] [--exp /tmp/transfer-demo]

Target bengali, model tiny, 10 epochs, 30 s batches, greedy decoding of the held-out-speaker
test set. Rows of the study: scratch on the small (0.1 h) and the large (0.6 h) budget,
assamese 0.1 h and 0.6 h sources, the 0.6 h source with an adaptation strategy, and bengali
0.6 h (the large-budget scratch run of seed 0) as the source. Then every strategy for
assamese 0.6 h and turkish 0.6 h sources. The corpus is pinned (``+data.seed=0``): seeds vary
initialisation and batching only; each source is pretrained once (seed 0) and reused.

Runs already finished under ``--exp`` are read back, not rerun; ``--rows adapter lora`` runs
only the rows whose name holds one of the words and keeps the others of ``--out``. Writes
``bench/results/transfer_demo.json`` after every run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAIN = ["model=tiny", "train.epochs=10", "train.batch_duration_s=30", "+data.seed=0",
         "decode.beam=false"]
SOURCES = {"assamese-0.1h": ("assamese", 0.1), "assamese-0.6h": ("assamese", 0.6),
           "turkish-0.6h": ("turkish", 0.6)}
STRATEGIES = {"frozen": [], "finetune": [], "discriminative": [],
              "discriminative-output": ["strategy=discriminative",
                                        "strategy.discriminative.toward=output"],
              "slanted_triangular": [], "chain_thaw": [], "gradual_unfreeze": [],
              "adapter": [], "lora": []}
ADAPTATION = "discriminative"   # the strategy of the study's "+ adaptation" row, fixed a priori


def run(cmd: list[str]) -> None:
    res = subprocess.run([sys.executable, *cmd], cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: {res.stderr.strip().splitlines()[-1]}")


def pretrain(exp: Path, key: str) -> Path:
    """The seed-0 source checkpoint ``key`` (pretrained here if missing)."""
    language, hours = SOURCES[key]
    run_dir = exp / "sources" / key
    if not (run_dir / "results" / "test" / "scores.json").is_file():
        print(f"pretraining {key}", flush=True)
        run(["recipes/pretrain.py", f"language={language}", f"data.hours={hours}", "seed=0",
             f"hydra.run.dir={run_dir}", *TRAIN])
    return run_dir


def transfer(exp: Path, row: str, seed: int, source: str, args: list[str]) -> dict:
    """One transfer run's summary (run now, or read back)."""
    exp_dir = exp / "runs" / row / f"seed{seed}"
    found = list(exp_dir.glob(f"transfer/{source}-to-bengali/*/summary.json"))
    if not found:
        run(["recipes/transfer.py", f"source={source}", "target=bengali", f"seed={seed}",
             f"exp_dir={exp_dir}", *TRAIN, *args])
        found = list(exp_dir.glob(f"transfer/{source}-to-bengali/*/summary.json"))
    s = json.loads(found[0].read_text())
    return {"row": row, "seed": seed, "cer": round(s["cer"], 4), "wer": round(s["wer"], 4),
            "wall_s": s["wall_s"], "steps": s["steps"], **trainable(found[0].parent)}


def trainable(run_dir: Path) -> dict:
    """Parameters of the final model, and those the strategy trained (not frozen from the
    start: copy_report.json's ``frozen``)."""
    from asrtl.train.checkpoint import load_checkpoint

    model = load_checkpoint(run_dir).model
    frozen = set(json.loads((run_dir / "copy_report.json").read_text())["frozen"])
    named = dict(model.named_parameters())
    return {"params": sum(p.numel() for p in named.values()),
            "trainable": sum(p.numel() for n, p in named.items() if n not in frozen)}


def plan(exp: Path) -> list[tuple[str, str, list]]:
    """(row, source label, recipe overrides) for every row, the study's first."""
    def ckpt(key: str) -> Callable[[], str]:  # pretrained when a chosen row needs it
        return lambda: f"source_checkpoint={pretrain(exp, key)}"
    bengali_large = exp / "runs/scratch-0.6h/seed0/transfer/none-to-bengali/finetune"
    rows = [("scratch-0.1h", "none", ["target_hours=0.1"]),
            ("scratch-0.6h", "none", ["target_hours=0.6"]),
            ("assamese-0.1h-finetune", "assamese", [ckpt("assamese-0.1h")]),
            ("assamese-0.6h-finetune", "assamese", [ckpt("assamese-0.6h")]),
            (f"assamese-0.6h-{ADAPTATION}", "assamese",
             [ckpt("assamese-0.6h"), f"strategy={ADAPTATION}"]),
            ("bengali-0.6h-finetune", "bengali",
             [f"source_checkpoint={bengali_large}"])]
    for key in ("assamese-0.6h", "turkish-0.6h"):
        for name, extra in STRATEGIES.items():
            row = f"{key}-{name}"
            if row not in {r[0] for r in rows}:
                rows.append((row, key.split("-")[0],
                             [ckpt(key), *(extra or [f"strategy={name}"])]))
    return rows


def summarise(runs: list[dict]) -> dict:
    out = {}
    for row in dict.fromkeys(r["row"] for r in runs):
        rs = [r for r in runs if r["row"] == row]
        cers = [r["cer"] for r in rs]
        out[row] = {"seeds": len(rs), "cer_mean": round(statistics.mean(cers), 4),
                    "cer_min": min(cers), "cer_max": max(cers),
                    "wer_mean": round(statistics.mean(r["wer"] for r in rs), 4),
                    "wall_s_mean": round(statistics.mean(r["wall_s"] for r in rs), 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--exp", default="/tmp/transfer-demo")
    parser.add_argument("--out", default="bench/results/transfer_demo.json")
    parser.add_argument("--rows", nargs="+", default=None,
                        help="run only rows whose name contains one of these; the other rows "
                             "of --out are kept")
    args = parser.parse_args()
    exp = Path(args.exp)
    chosen = [r for r in plan(exp) if not args.rows or any(k in r[0] for k in args.rows)]
    names = {r[0] for r in chosen}
    previous = json.loads(Path(args.out).read_text())["runs"] if args.rows else []
    runs: list[dict] = [r for r in previous if r["row"] not in names]
    for row, source, overrides in chosen:
        overrides = [o() if callable(o) else o for o in overrides]
        for seed in args.seeds:
            runs.append(transfer(exp, row, seed, source, overrides))
            print(json.dumps(runs[-1]), flush=True)
            out = {"bench": "transfer_demo", "settings": TRAIN, "target": "bengali",
                   "adaptation_row": ADAPTATION, "runs": runs, "summary": summarise(runs)}
            Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["summary"], indent=1))


if __name__ == "__main__":
    main()
