"""Which source? Every ranker against a measured transfer matrix over a pool of languages.

    python bench/ranking.py matrix [--seeds 0 1 2] [--exp /tmp/ranking]   # ground truth
    python bench/ranking.py rank [--exp /tmp/ranking]                       # rankers, scores
    python bench/ranking.py all                                             # both
    python bench/ranking.py judge       # judge the stored rankings again (bench/results)

Ground truth (``matrix``): every language of the pool pretrained once on 0.6 h (seed 0),
then each language as the target (0.1 h) with every other language as a candidate source,
``finetune``, over ``--seeds`` (the corpus pinned: seeds vary the target's initialisation
and batching). Jobs run as the recipes a user runs, as Hydra multiruns under the joblib
launcher (two jobs at a time, one thread each); finished runs are read back, not rerun.

Rankers (``rank``): ``recipes/rank.py`` for each target with the other languages as sources,
reusing the pretrained sources; it reads the target's train and dev splits only. Each
ranker's scores are compared with the mean test WER (and CER) over seeds: Spearman rho with
the negative WER, Kendall tau, top-1 hit (a pick within the seed spread of the best counts),
NDCG@3 and regret. Writes ``bench/results/ranking.json``. Besides each ranker and the
recipe's own ``combined``, two forms of the default combination are judged from the stored
scores: ``combined_acoustic`` (its acoustic half alone, the default before issue 30) and
``combined_halves`` (both halves weighed equally, the default after); ``judge`` redoes this
from the stored rankings without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asrtl.rank.combine import combine, half_weights, judge  # noqa: E402 (repo on the path)
from asrtl.rank.rankers import HALVES  # noqa: E402
from asrtl.rank.run import DEFAULT_COMBINE  # noqa: E402

# graded relatedness: a same-script close pair (bengali/assamese), a script shared by two
# Indo-Aryan languages (hindi/marathi), a Turkic pair in Latin script (turkish/azerbaijani),
# and thai, related to none of them
POOL = ["bengali", "assamese", "hindi", "marathi", "turkish", "azerbaijani", "thai"]
SMALL, LARGE = 0.1, 0.6
JOBS = ["model=tiny", "train.epochs=10", "train.batch_duration_s=30", "decode.beam=false",
        "+data.seed=0"]


RANKERS = ["lid_posterior", "lid_posterior_calibrated", "lid_embedding", "zero_shot",
           "zero_shot_cer", "ctc_probe", "logme", "leep", "units"]


def recipe(name: str, args: list[str], threads: int | None = None) -> float:
    """Runs ``recipes/<name>.py args``; returns its wall time in seconds."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
                            if threads else {})}
    start = time.time()
    res = subprocess.run([sys.executable, f"recipes/{name}.py", *args], cwd=REPO, env=env,
                         capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"recipes/{name}.py {' '.join(args)}: {tail}")
    return time.time() - start


def source_dir(exp: Path, language: str) -> Path:
    return exp / "pretrain" / f"{language}-{LARGE:g}h"


def transfer_dir(exp: Path, source: str, target: str, seed: int) -> Path:
    return exp / f"seed{seed}" / "transfer" / f"{source}-to-{target}" / "finetune"


def build_matrix(exp: Path, pool: list[str], seeds: list[int]) -> dict:
    """Pretrains the pool and runs every transfer (seed-major, so an interrupted bench has
    whole matrices for its first seeds). Returns the wall times of each phase."""
    walls: dict[str, float] = {}
    for lang in pool:  # corpora one at a time: synthesis uses both cores itself
        walls[f"prepare/{lang}"] = recipe("prepare", [f"language={lang}",
                                                      f"data.hours={LARGE:g}", "+data.seed=0"])
    todo = [s for s in pool if not (source_dir(exp, s) / "results/test/scores.json").is_file()]
    if todo:
        print(f"pretraining {todo}", flush=True)
        walls["pretrain"] = recipe("pretrain", [
            "-m", f"language={','.join(todo)}", f"data.hours={LARGE:g}", "seed=0", *JOBS,
            "hydra/launcher=joblib", f"hydra.sweep.dir={exp / 'pretrain'}",
            f"hydra.sweep.subdir=${{language}}-{LARGE:g}h"], threads=1)
    for seed in seeds:
        for target in pool:
            sources = [s for s in pool if s != target and not (
                transfer_dir(exp, s, target, seed) / "summary.json").is_file()]
            if not sources:
                continue
            print(f"seed {seed}: {sources} -> {target}", flush=True)
            walls[f"transfer/seed{seed}/{target}"] = recipe("transfer", [
                "-m", f"source={','.join(sources)}", f"target={target}", f"seed={seed}",
                f"target_hours={SMALL:g}", f"exp_dir={exp / f'seed{seed}'}",
                f"source_checkpoint={exp / 'pretrain'}/${{source}}-{LARGE:g}h", *JOBS,
                "hydra/launcher=joblib"], threads=1)
    return walls


def read_matrix(exp: Path, pool: list[str], seeds: list[int]) -> dict:
    """``{target: {source: {"wer": [per seed], "cer": [...], "wall_s": [...]}}}`` of the
    finished runs."""
    out: dict = {}
    for target in pool:
        for source in pool:
            if source == target:
                continue
            runs = [json.loads(f.read_text()) for seed in seeds
                    if (f := transfer_dir(exp, source, target, seed) / "summary.json").is_file()]
            if runs:
                out.setdefault(target, {})[source] = {
                    k: [r[k] for r in runs] for k in ("wer", "cer", "wall_s", "seed")}
    return out


def run_rank(exp: Path, pool: list[str], target: str) -> dict:
    """``recipes/rank.py`` for ``target`` with every other language of the pool as a source
    (the pretrained sources reused, nothing retrained); its ranking.json, with the recipe's
    wall time."""
    run_dir = exp / "rank" / target
    out = run_dir / "ranking.json"
    if not out.is_file():
        print(f"ranking sources for {target}", flush=True)
        sources = ",".join(s for s in pool if s != target)
        wall = recipe("rank", [f"target={target}", f"sources=[{sources}]", f"exp_dir={exp}",
                               f"source_hours={LARGE:g}", f"target_hours={SMALL:g}", "+data.seed=0",
                               "train_missing=false", f"hydra.run.dir={run_dir}",
                               f"rankers=[{','.join(RANKERS)}]"])
        result = json.loads(out.read_text())
        result["recipe_wall_s"] = round(wall, 1)
        out.write_text(json.dumps(result, indent=1) + "\n")
    return json.loads(out.read_text())


def loto_combined(rankings: dict[str, dict], matrix: dict, metric: str) -> dict[str, dict]:
    """A learned combination judged fairly: for each target, the subset of rankers whose
    mean rank has the best mean Spearman rho on the *other* targets, applied to it."""
    names = [n for n in next(iter(rankings.values()))["rankers"] if n != "combined"]
    subsets = [list(c) for k in range(1, len(names) + 1) for c in combinations(names, k)]
    rho = {}
    for t, r in rankings.items():
        wer = {s: v[metric] for s, v in matrix[t].items()}
        for i, sub in enumerate(subsets):
            rho[t, i] = judge(combine(r["rankers"], sub), wer)["spearman"] or 0.0
    out = {}
    for t, r in rankings.items():
        others = [o for o in rankings if o != t]
        best = max(range(len(subsets)),
                   key=lambda i: (statistics.mean(rho[o, i] for o in others), -len(subsets[i])))
        out[t] = {"rankers": subsets[best], "scores": combine(r["rankers"], subsets[best])}
    return out


def default_forms(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The recipe's default combination over the rankers stored: its acoustic half alone
    (``combined_acoustic``) and both halves weighed equally (``combined_halves``)."""
    have = [r for r in DEFAULT_COMBINE if r in scores]
    acoustic = [r for r in have if r in HALVES["acoustic"]]
    return {"combined_acoustic": combine(scores, acoustic),
            "combined_halves": combine(scores, have, half_weights(have, HALVES))}


def evaluate_rankers(exp: Path, pool: list[str], matrix: dict) -> dict:
    """Every ranker's agreement with the measured matrix, per target and averaged."""
    rankings = {t: run_rank(exp, pool, t) for t in pool if t in matrix}
    stored = {t: {k: r[k] for k in ("rankers", "ranking", "confidence", "zero_shot_cer",
                                    "wall_s", "recipe_wall_s")} for t, r in rankings.items()}
    out = {"rankings": stored, **judge_rankings(stored, matrix)}
    transfer_walls = {t: sum(v["wall_s"][0] for v in matrix[t].values()) for t in rankings}
    out["cost"] = {t: {"rank_recipe_s": r.get("recipe_wall_s"),
                       "transfer_train_s_seed0": round(transfer_walls[t], 1),
                       "ratio": round(r["recipe_wall_s"] / transfer_walls[t], 4)
                       if r.get("recipe_wall_s") else None}
                   for t, r in rankings.items()}
    return out


def judge_rankings(rankings: dict[str, dict], matrix: dict) -> dict:
    """``{"judged", "summary"}``: each ranker, ``combined_loto`` and the default's two forms
    against the measured WER and CER."""
    out: dict = {"judged": {}, "summary": {}}
    for metric in ("wer", "cer"):
        loto = loto_combined(rankings, matrix, metric)
        judged: dict = {}
        for t, r in rankings.items():
            measured = {s: v[metric] for s, v in matrix[t].items()}
            for name, scores in {**r["rankers"], **default_forms(r["rankers"]),
                                 "combined_loto": loto[t]["scores"]}.items():
                judged.setdefault(name, {})[t] = judge(scores, measured)
            judged["combined_loto"][t]["rankers"] = loto[t]["rankers"]
        out["judged"][metric] = judged
        out["summary"][metric] = {
            name: {"spearman": _mean(j, "spearman"), "kendall": _mean(j, "kendall"),
                   "top1": round(statistics.mean(float(x["top1"]) for x in j.values()), 4),
                   "ndcg@3": _mean(j, "ndcg@3"), "regret": _mean(j, "regret"),
                   "targets": len(j)}
            for name, j in judged.items()}
    return out


def markdown(result: dict) -> str:
    """The BENCHMARKS.md tables: every ranker against WER (and CER), and each target's picks."""
    wer, cer = result["summary"]["wer"], result["summary"]["cer"]
    lines = ["| ranker | rho (-WER) | tau (-WER) | top-1 (WER) | NDCG@3 | regret (WER points) "
             "| rho (-CER) | top-1 (CER) | regret (CER points) |",
             "|---|---|---|---|---|---|---|---|---|"]
    order = sorted(wer, key=lambda n: -(wer[n]["spearman"] or -9))
    for n in order:
        w, c = wer[n], cer[n]
        lines.append(f"| {n} | {w['spearman']:+.2f} | {w['kendall']:+.2f} | "
                     f"{w['top1']:.0%} | {w['ndcg@3']:.2f} | {w['regret']:.1f} | "
                     f"{c['spearman']:+.2f} | {c['top1']:.0%} | {c['regret']:.1f} |")
    shown = ("lid_posterior", "combined", "combined_halves", "combined_loto")
    lines += ["", "| target | best by WER (mean over seeds) | " + " | ".join(
        f"{n} pick" for n in shown) + " |", "|---|---|---|---|---|---|"]
    for t, row in result["matrix"].items():
        means = sorted((statistics.mean(v["wer"]), s) for s, v in row.items())
        best = ", ".join(f"{s} {100 * m:.1f}" for m, s in means[:3])
        picks = [result["judged"]["wer"][n][t]["pick"] for n in shown]
        lines.append(f"| {t} | {best} | " + " | ".join(picks) + " |")
    return "\n".join(lines)


def _mean(judged: dict, key: str) -> float | None:
    vals = [j[key] for j in judged.values() if j[key] is not None]
    return round(statistics.mean(vals), 4) if vals else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["matrix", "rank", "all", "judge"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pool", nargs="+", default=POOL)
    parser.add_argument("--exp", default="/tmp/ranking")
    parser.add_argument("--out", default="bench/results/ranking.json")
    args = parser.parse_args()
    exp, out_path = Path(args.exp), REPO / args.out
    result = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if args.phase == "judge":
        if "rankings" not in result:
            raise SystemExit(f"{out_path}: no stored rankings to judge; run the rank phase")
        result.update(judge_rankings(result["rankings"], result["matrix"]))
        out_path.write_text(json.dumps(result, indent=1) + "\n")
        print(markdown(result))
        return
    result.update(bench="ranking", pool=args.pool, seeds=args.seeds, small_hours=SMALL,
                  large_hours=LARGE, jobs=JOBS)
    if args.phase in ("matrix", "all"):
        walls = build_matrix(exp, args.pool, args.seeds)
        result["matrix_walls_s"] = {**result.get("matrix_walls_s", {}),
                                    **{k: round(v, 1) for k, v in walls.items()}}
    result["matrix"] = read_matrix(exp, args.pool, args.seeds)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    if args.phase in ("rank", "all"):
        result.update(evaluate_rankers(exp, args.pool, result["matrix"]))
        out_path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({t: {s: round(statistics.mean(v["wer"]), 3) for s, v in row.items()}
                      for t, row in result["matrix"].items()}, indent=1))
    if "summary" in result:
        print(markdown(result))


if __name__ == "__main__":
    main()
