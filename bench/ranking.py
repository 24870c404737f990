"""Which source? Every ranker against a measured transfer matrix over a pool of languages.

    python bench/ranking.py matrix [--seeds 0 1 2] [--exp /tmp/ranking]   # ground truth
    python bench/ranking.py rank [--exp /tmp/ranking]                       # rankers, scores
    python bench/ranking.py all                                             # both
    python bench/ranking.py judge       # judge the stored rankings again (bench/results)
    python bench/ranking.py all --design decoupled --out bench/results/ranking_decoupled.json

Ground truth (``matrix``): every language of the design pretrained once on 0.6 h (seed 0),
then each target (0.1 h) with each of its candidate sources (``--design graded``: the 7
languages of :data:`POOL`, each the others' candidate; ``decoupled``: issue 30's 12 languages,
6 candidates a target, :data:`DECOUPLED`), ``finetune``, over ``--seeds`` (the corpus
pinned: seeds vary the target's initialisation and batching). Jobs run as the recipes a user
runs, as Hydra multiruns under the joblib launcher (two jobs at a time, one thread each);
finished runs are read back, not rerun.

Rankers (``rank``): ``recipes/rank.py`` for each target with the other languages as sources,
reusing the pretrained sources; it reads the target's train and dev splits only. Each
ranker's scores are compared with the mean test WER (and CER) over seeds: Spearman rho with
the negative WER, Kendall tau, top-1 hit (a pick within the seed spread of the best counts),
NDCG@3 and regret. Writes ``bench/results/ranking.json``. Besides each ranker and the
recipe's own ``combined``, two forms of the default combination are judged from the stored
scores: ``combined_acoustic`` (its acoustic half alone, the default before issue 30) and
``combined_halves`` (both halves weighed equally, the default after), and
``combined_lofo_halves``: the halves' weights learned leave-one-family-out (the acoustic
share with the best mean rho on the targets of other families, :data:`FAMILIES`), its
shares per target reported; ``judge`` redoes this from the stored rankings without running
anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asrtl.rank.combine import combine, judge  # noqa: E402 (repo on the path)
from asrtl.rank.rankers import HALVES  # noqa: E402
from asrtl.rank.run import DEFAULT_COMBINE  # noqa: E402

# graded relatedness: a same-script close pair (bengali/assamese), a script shared by two
# Indo-Aryan languages (hindi/marathi), a Turkic pair in Latin script (turkish/azerbaijani),
# and thai, related to none of them. Every target's candidates: the six others.
POOL = ["bengali", "assamese", "hindi", "marathi", "turkish", "azerbaijani", "thai"]
# Issue 30's pool, where sounding alike and writing alike come apart: one spoken language in
# two scripts (serbian in Cyrillic, croatian in Latin), related pairs in different scripts
# (hindi/urdu; kazakh in Cyrillic against turkish and uzbek in Latin), unrelated languages
# that share a script (kazakh with the Slavic Cyrillic ones; turkish, uzbek, indonesian with
# croatian). Six candidates a target, chosen so that each has a relative in another script
# and an unrelated language in its own.
DECOUPLED = {
    "serbian": ["croatian", "bulgarian", "russian", "kazakh", "turkish", "hindi"],
    "croatian": ["serbian", "russian", "bulgarian", "turkish", "indonesian", "uzbek"],
    "russian": ["bulgarian", "serbian", "croatian", "kazakh", "turkish", "persian"],
    "bulgarian": ["russian", "serbian", "croatian", "kazakh", "indonesian", "urdu"],
    "kazakh": ["uzbek", "turkish", "russian", "serbian", "bulgarian", "hindi"],
    "turkish": ["uzbek", "kazakh", "croatian", "indonesian", "persian", "russian"],
    "uzbek": ["turkish", "kazakh", "indonesian", "croatian", "persian", "urdu"],
    "hindi": ["urdu", "nepali", "persian", "indonesian", "russian", "kazakh"],
    "urdu": ["hindi", "persian", "nepali", "turkish", "uzbek", "bulgarian"],
    "nepali": ["hindi", "urdu", "persian", "croatian", "kazakh", "indonesian"],
    "persian": ["urdu", "hindi", "nepali", "turkish", "uzbek", "russian"],
    "indonesian": ["croatian", "turkish", "uzbek", "hindi", "serbian", "persian"],
}
FAMILIES = {"bengali": "indo-aryan", "assamese": "indo-aryan", "hindi": "indo-aryan",
            "marathi": "indo-aryan", "urdu": "indo-aryan", "nepali": "indo-aryan",
            "turkish": "turkic", "azerbaijani": "turkic", "kazakh": "turkic", "uzbek": "turkic",
            "thai": "tai", "serbian": "slavic", "croatian": "slavic", "russian": "slavic",
            "bulgarian": "slavic", "persian": "iranian", "indonesian": "austronesian"}
DESIGNS = {"graded": {t: [s for s in POOL if s != t] for t in POOL}, "decoupled": DECOUPLED}
SMALL, LARGE = 0.1, 0.6
JOBS = ["model=tiny", "train.epochs=10", "train.batch_duration_s=30", "decode.beam=false",
        "+data.seed=0"]


RANKERS = ["lid_posterior", "lid_posterior_calibrated", "lid_embedding", "zero_shot",
           "zero_shot_cer", "ctc_probe", "logme", "leep", "units", "head_coverage"]


@dataclass(frozen=True)
class Setup:
    """How a bench trains: the target's and the sources' hours, the jobs' common overrides,
    overrides for every recipe (``lang.<L>.data=...``: each language's corpus), and whether
    each target also trains from scratch (``source=none``, outside the rankers' candidates)."""

    small: float = SMALL
    large: float = LARGE
    jobs: tuple[str, ...] = tuple(JOBS)
    extra: tuple[str, ...] = ()
    scratch: bool = False


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


def source_dir(exp: Path, language: str, setup: Setup = Setup()) -> Path:
    return exp / "pretrain" / f"{language}-{setup.large:g}h"


def transfer_dir(exp: Path, source: str, target: str, seed: int) -> Path:
    return exp / f"seed{seed}" / "transfer" / f"{source}-to-{target}" / "finetune"


def languages(design: dict[str, list[str]]) -> list[str]:
    """Every language of a design (targets first, then sources that are no target)."""
    return list(dict.fromkeys([*design, *(s for v in design.values() for s in v)]))


def build_matrix(exp: Path, design: dict[str, list[str]], seeds: list[int],
                 setup: Setup = Setup()) -> dict:
    """Pretrains every language of ``design`` (``{target: [candidate sources]}``) and runs
    every transfer, and the scratch baselines when ``setup.scratch`` (seed-major, so an
    interrupted bench has whole matrices for its first seeds). Returns the wall times of
    each phase."""
    walls: dict[str, float] = {}
    pool = languages(design)
    for lang in pool:  # corpora one at a time: synthesis uses both cores itself
        walls[f"prepare/{lang}"] = recipe("prepare", [f"language={lang}",
                                                      f"data.hours={setup.large:g}",
                                                      "+data.seed=0", *setup.extra])
    todo = [s for s in pool
            if not (source_dir(exp, s, setup) / "results/test/scores.json").is_file()]
    if todo:
        print(f"pretraining {todo}", flush=True)
        walls["pretrain"] = recipe("pretrain", [
            "-m", f"language={','.join(todo)}", f"data.hours={setup.large:g}", "seed=0",
            *setup.jobs, *setup.extra, "hydra/launcher=joblib",
            f"hydra.sweep.dir={exp / 'pretrain'}",
            f"hydra.sweep.subdir=${{language}}-{setup.large:g}h"], threads=1)
    for seed in seeds:
        for target, candidates in design.items():
            sources = [s for s in candidates if not (
                transfer_dir(exp, s, target, seed) / "summary.json").is_file()]
            common = [f"target={target}", f"seed={seed}", f"target_hours={setup.small:g}",
                      f"exp_dir={exp / f'seed{seed}'}", *setup.jobs, *setup.extra]
            if sources:
                print(f"seed {seed}: {sources} -> {target}", flush=True)
                walls[f"transfer/seed{seed}/{target}"] = recipe("transfer", [
                    "-m", f"source={','.join(sources)}", *common,
                    f"source_checkpoint={exp / 'pretrain'}/${{source}}-{setup.large:g}h",
                    "hydra/launcher=joblib"], threads=1)
            if setup.scratch and not (transfer_dir(exp, "none", target, seed)
                                      / "summary.json").is_file():
                walls[f"scratch/seed{seed}/{target}"] = recipe("transfer",
                                                               ["source=none", *common])
    return walls


def read_matrix(exp: Path, design: dict[str, list[str]], seeds: list[int],
                scratch: bool = False) -> dict:
    """``{target: {source: {"wer": [per seed], "cer": [...], "wall_s": [...]}}}`` of the
    finished runs (and ``"none"``, the scratch baseline, when ``scratch``)."""
    out: dict = {}
    for target, candidates in design.items():
        for source in [*candidates, *(["none"] if scratch else [])]:
            runs = [json.loads(f.read_text()) for seed in seeds
                    if (f := transfer_dir(exp, source, target, seed) / "summary.json").is_file()]
            if runs:
                out.setdefault(target, {})[source] = {
                    k: [r[k] for r in runs] for k in ("wer", "cer", "wall_s", "seed")}
    return out


def run_rank(exp: Path, candidates: list[str], target: str, setup: Setup = Setup()) -> dict:
    """``recipes/rank.py`` for ``target`` with its candidates as sources (the pretrained
    sources reused, nothing retrained); its ranking.json, with the recipe's wall time."""
    run_dir = exp / "rank" / target
    out = run_dir / "ranking.json"
    if out.is_file() and json.loads(out.read_text())["sources"] != list(candidates):
        print(f"{out} ranked other candidates: ranking again", flush=True)
        out.unlink()
    if not out.is_file():
        print(f"ranking sources for {target}", flush=True)
        sources = ",".join(candidates)
        wall = recipe("rank", [f"target={target}", f"sources=[{sources}]", f"exp_dir={exp}",
                               f"source_hours={setup.large:g}", f"target_hours={setup.small:g}",
                               "+data.seed=0", "train_missing=false",
                               f"hydra.run.dir={run_dir}", f"rankers=[{','.join(RANKERS)}]",
                               *setup.extra])
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
            "combined_halves": halves_at(scores, 0.5)}


ACOUSTIC_SHARES = [i / 10 for i in range(11)]


def halves_at(scores: dict[str, dict[str, float]], share: float) -> dict[str, float]:
    """The default combination with the acoustic half weighed ``share`` and the
    output-mapping half ``1 - share`` (0.5: the recipe's default)."""
    have = [r for r in DEFAULT_COMBINE if r in scores]
    acoustic = [r for r in have if r in HALVES["acoustic"]]
    output = [r for r in have if r not in acoustic]
    if not acoustic or not output:
        return combine(scores, have)
    weights = {r: share / len(acoustic) for r in acoustic}
    weights |= {r: (1 - share) / len(output) for r in output}
    return combine(scores, have, weights)


def lofo_halves(rankings: dict[str, dict], matrix: dict, metric: str) -> dict[str, dict]:
    """The halves' weights learned leave-one-family-out: for each target, the acoustic share
    (of :data:`ACOUSTIC_SHARES`) with the best mean Spearman rho over the targets of *other*
    families (a language's pair in another script is of its family, so never seen either;
    ties: the share nearest 0.5), applied to it. ``{target: {"share", "scores"}}``."""
    rho = {(t, w): judge(halves_at(r["rankers"], w),
                         {s: v[metric] for s, v in matrix[t].items()})["spearman"] or 0.0
           for t, r in rankings.items() for w in ACOUSTIC_SHARES}
    out = {}
    for t, r in rankings.items():
        others = [o for o in rankings if FAMILIES.get(o, o) != FAMILIES.get(t, t)]
        best = max(ACOUSTIC_SHARES, key=lambda w: (
            statistics.mean(rho[o, w] for o in others) if others else 0.0, -abs(w - 0.5)))
        out[t] = {"share": best, "scores": halves_at(r["rankers"], best)}
    return out


def evaluate_rankers(exp: Path, design: dict[str, list[str]], matrix: dict,
                     setup: Setup = Setup()) -> dict:
    """Every ranker's agreement with the measured matrix (the scratch baseline left out),
    per target and averaged."""
    matrix = candidates_only(matrix)
    rankings = {t: run_rank(exp, c, t, setup) for t, c in design.items() if t in matrix}
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


def candidates_only(matrix: dict) -> dict:
    """``matrix`` without the scratch baseline (``none``, which no ranker scores), and without
    targets left with no source."""
    rows = {t: {s: v for s, v in row.items() if s != "none"} for t, row in matrix.items()}
    return {t: row for t, row in rows.items() if row}


def judge_rankings(rankings: dict[str, dict], matrix: dict) -> dict:
    """``{"judged", "summary"}``: each ranker, ``combined_loto`` and the default's two forms
    against the measured WER and CER (the targets with both a ranking and measured
    candidates)."""
    matrix = candidates_only(matrix)
    rankings = {t: r for t, r in rankings.items() if t in matrix}
    out: dict = {"judged": {}, "summary": {}, "lofo_acoustic_share": {}}
    for metric in ("wer", "cer"):
        loto = loto_combined(rankings, matrix, metric)
        lofo = lofo_halves(rankings, matrix, metric)
        judged: dict = {}
        for t, r in rankings.items():
            measured = {s: v[metric] for s, v in matrix[t].items()}
            for name, scores in {**r["rankers"], **default_forms(r["rankers"]),
                                 "combined_loto": loto[t]["scores"],
                                 "combined_lofo_halves": lofo[t]["scores"]}.items():
                judged.setdefault(name, {})[t] = judge(scores, measured)
            judged["combined_loto"][t]["rankers"] = loto[t]["rankers"]
        shares = [v["share"] for v in lofo.values()]
        out["lofo_acoustic_share"][metric] = {
            "per_target": {t: v["share"] for t, v in lofo.items()},
            "mean": round(statistics.mean(shares), 3), "min": min(shares), "max": max(shares)}
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
    for t, row in candidates_only(result["matrix"]).items():
        if t not in result["judged"]["wer"]["combined"]:
            continue
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
    parser.add_argument("--design", choices=list(DESIGNS), default="graded",
                        help="graded: the 7-language pool; decoupled: issue 30's 12 languages")
    parser.add_argument("--pool", nargs="+", help="these languages, each the others' candidate")
    parser.add_argument("--exp", help="default: /tmp/ranking, or /tmp/ranking-<design>")
    parser.add_argument("--out", help="default: bench/results/ranking.json, or "
                        "bench/results/ranking_<design>.json")
    args = parser.parse_args()
    suffix = "" if args.design == "graded" else f"_{args.design}"
    exp = Path(args.exp or f"/tmp/ranking{suffix.replace('_', '-')}")
    out_path = REPO / (args.out or f"bench/results/ranking{suffix}.json")
    design = ({t: [s for s in args.pool if s != t] for t in args.pool} if args.pool
              else DESIGNS[args.design])
    run_bench(args.phase, exp, out_path, design, args.seeds, Setup(),
              {"bench": "ranking", "design": args.design if not args.pool else "pool",
               "pool": languages(design)})


def run_bench(phase: str, exp: Path, out_path: Path, design: dict[str, list[str]],
              seeds: list[int], setup: Setup, described: dict) -> None:
    """One phase of a bench (``matrix``, ``rank``, ``all`` or ``judge``) into ``out_path``
    (what it held is kept and updated; ``described``: what the bench records of itself),
    then its tables printed. bench/real_transfer.py runs through it too."""
    result = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if phase == "judge":
        if "rankings" not in result:
            raise SystemExit(f"{out_path}: no stored rankings to judge; run the rank phase")
        result.update(judge_rankings(result["rankings"], result["matrix"]))
        out_path.write_text(json.dumps(result, indent=1) + "\n")
        print(markdown(result))
        return
    result.update(described, candidates=design, seeds=seeds, small_hours=setup.small,
                  large_hours=setup.large, jobs=list(setup.jobs))
    if phase in ("matrix", "all"):
        walls = build_matrix(exp, design, seeds, setup)
        result["matrix_walls_s"] = {**result.get("matrix_walls_s", {}),
                                    **{k: round(v, 1) for k, v in walls.items()}}
    result["matrix"] = read_matrix(exp, design, seeds, scratch=setup.scratch)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    if phase in ("rank", "all"):
        result.update(evaluate_rankers(exp, design, result["matrix"], setup))
        out_path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({t: {s: round(statistics.mean(v["wer"]), 3) for s, v in row.items()}
                      for t, row in result["matrix"].items()}, indent=1))
    if "summary" in result:
        print(markdown(result))


if __name__ == "__main__":
    main()
