"""Untranscribed target audio: how much of the gap between a labelled source alone and a
model trained on the target's transcripts pseudo-labelling closes, on three shifts.

    python bench/untranscribed.py                          # 3 shifts, 3 seeds (hours)
    python bench/untranscribed.py --shifts channel --seeds 0 --epochs 3   # a smoke run

Shifts (``SHIFTS``):
- ``language``: a labelled related language (assamese), untranscribed bengali (the
  pseudo-labelled model keeps the source's vocabulary: letters only bengali has are out of
  its reach, while the oracle's vocabulary is bengali's: a bias against pseudo-labels);
- ``channel``: labelled clean bengali, untranscribed bengali over the telephone channel
  (``data.telephone=true``: 300-3400 Hz, 8-bit mu-law);
- ``recorded``: labelled synthetic malayalam, untranscribed recorded malayalam
  (``../shared/realspeech``).

Per shift: the source model once (``recipes/pretrain.py``, seed 0); per seed,
``recipes/pseudo_label.py`` (round 0 = the source alone on the target's test split, then
``--rounds`` rounds) and the oracle, ``recipes/transfer.py`` from the same source on the
target's transcripts at the same budget. Writes ``bench/results/untranscribed.json``
(``../shared/BENCH_RESULTS.md``): ``shifts.<shift>.{source_only, oracle}`` (test CER, mean
over seeds), ``shifts.<shift>.methods.pseudo_label.{cer, cer_seeds}``,
``shifts.<shift>.best.{method, cer}`` and the share of the gap closed. Domain-adversarial
training and self-supervised pretraining are not built yet: their rows are absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CSV = REPO.parent / "shared" / "realspeech" / "manifest.csv"
# shift: (source language, the source's data overrides, target language, target's overrides)
SHIFTS = {
    "language": ("assamese", [], "bengali", []),
    # another corpus build (data.seed): the embedded stream is fixed, so the telephone
    # audio of the same build would be the very sentences the source was trained on
    "channel": ("bengali", [], "bengali", ["data.telephone=true", "data.seed=1000"]),
    "recorded": ("malayalam", [], "malayalam", ["data=csv", f"data.path={CSV}"]),
}


def run(recipe: str, *args: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, f"recipes/{recipe}.py", *args], cwd=REPO,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"{recipe} {' '.join(args)}: {res.stderr.strip().splitlines()[-1]}")
    return round(time.perf_counter() - t0, 1)


def cer(path: Path) -> float:
    return json.loads(path.read_text())["cer"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shifts", nargs="+", default=list(SHIFTS), choices=list(SHIFTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--source-hours", type=float, default=0.6)
    p.add_argument("--target-hours", type=float, default=0.1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--exp", default="/tmp/untranscribed-bench")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "untranscribed.json"))
    a = p.parse_args()
    exp = Path(a.exp)
    scale = [f"train.epochs={a.epochs}", "train.batch_duration_s=30", "train.num_workers=0",
             "decode.beam=false"]  # the pseudo-labelled model is the source's (tiny)
    doc: dict = {"bench": "untranscribed", "seeds": a.seeds, "source_hours": a.source_hours,
                 "target_hours": a.target_hours, "rounds": a.rounds,
                 "scale": ["model=tiny", *scale],
                 "shifts": {}, "wall_s": {}}
    for shift in a.shifts:
        source, source_data, target, target_data = SHIFTS[shift]
        src_dir = exp / shift / "source"
        if not (src_dir / "results" / "test" / "scores.json").is_file():
            doc["wall_s"][f"{shift} source"] = run(
                "pretrain", f"language={source}", f"data.hours={a.source_hours}", *source_data,
                "model=tiny", *scale, "seed=0", f"hydra.run.dir={src_dir}")
        rows: dict = {"source_only": [], "pseudo_label": [], "oracle": [], "kept": []}
        for seed in a.seeds:
            pl_dir = exp / shift / f"pseudo-seed{seed}"
            if not (pl_dir / "rounds.json").is_file():
                doc["wall_s"][f"{shift} pseudo seed {seed}"] = run(
                    "pseudo_label", f"checkpoint={src_dir}", f"unlabelled={target}",
                    f"unlabelled_hours={a.target_hours}", f"pseudo.rounds={a.rounds}",
                    *target_data, *scale, f"seed={seed}", f"hydra.run.dir={pl_dir}")
            rounds = json.loads((pl_dir / "rounds.json").read_text())["rounds"]
            rows["source_only"].append(rounds[0]["test"]["cer"])
            rows["pseudo_label"].append(rounds[-1]["test"]["cer"])
            rows["kept"].append([r.get("kept") for r in rounds[1:]])
            or_dir = exp / shift / f"oracle-seed{seed}"
            if not (or_dir / "summary.json").is_file():
                doc["wall_s"][f"{shift} oracle seed {seed}"] = run(
                    "transfer", f"source_checkpoint={src_dir}", f"target={target}",
                    f"target_hours={a.target_hours}", *target_data, "model=tiny", *scale,
                    f"seed={seed}", f"hydra.run.dir={or_dir}")
            rows["oracle"].append(cer(or_dir / "summary.json"))
        source_only, oracle = statistics.mean(rows["source_only"]), statistics.mean(rows["oracle"])
        pl = statistics.mean(rows["pseudo_label"])
        gap = source_only - oracle
        doc["shifts"][shift] = {
            "source": source, "target": target, "target_data": target_data,
            "source_only": round(source_only, 4), "oracle": round(oracle, 4),
            "source_only_seeds": rows["source_only"], "oracle_seeds": rows["oracle"],
            "methods": {"pseudo_label": {"cer": round(pl, 4), "cer_seeds": rows["pseudo_label"],
                                         "kept_per_round": rows["kept"]}},
            "best": {"method": "pseudo_label", "cer": round(pl, 4)},
            "gap_closed": round((source_only - pl) / gap, 3) if gap > 0 else None}
        Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{shift}: source only CER {source_only:.3f}, pseudo-labels {pl:.3f}, oracle "
              f"{oracle:.3f} (gap closed: {doc['shifts'][shift]['gap_closed']})", flush=True)


if __name__ == "__main__":
    main()
