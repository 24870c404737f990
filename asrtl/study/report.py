"""The study's report, built only from stored results (never retrains), deterministically.

``collect(study_dir)`` reads ``study.json`` and each job's small result files into one
``results`` mapping (every number with the file it came from); ``write_report`` renders it as
``report/{report.md, wer.csv, cer.csv, lid.csv, results.json, *.png}``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from asrtl.data.manifest import describe_corpus
from asrtl.errors import MissingInput, UserError
from asrtl.io import read_json, write_json_atomic, write_text_atomic
from asrtl.records import Ranking, TransferSummary
from asrtl.study.layout import StudyLayout, best_source, lid_scores, rank_by_score


def _read(study: Path, rel: str, missing: list[str]) -> dict | None:
    f = study / rel
    if not f.is_file():
        missing.append(rel)
        return None
    return read_json(f, "result file")


def _score(study: Path, rel: str, missing: list[str]) -> dict | None:
    """The test WER and CER of a run's result file: a transfer's ``summary.json``
    (:class:`TransferSummary`), else a pretraining run's ``scores.json``."""
    if Path(rel).name == "summary.json":
        if not (study / rel).is_file():
            missing.append(rel)
            return None
        s = TransferSummary.load(study / rel)
        return {"wer": s.wer, "cer": s.cer, "file": rel}
    d = _read(study, rel, missing)
    return None if d is None else {"wer": d["wer"], "cer": d["cer"], "file": rel}


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when undefined."""
    from scipy.stats import spearmanr

    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    rho = float(spearmanr(x, y).statistic)
    return None if math.isnan(rho) else round(rho, 4)


def predictors(study: Path, lay: StudyLayout, langs: list[str], metric: Any) -> dict[str, Any]:
    """Every ranker of ``rank/<target>/ranking.json`` (``recipes/rank.py``, run by the study
    with 3 or more languages) judged against the study's transfer WER for that target."""
    from asrtl.rank.combine import judge

    per: dict[str, dict[str, dict]] = {}
    for t in langs:
        f = study / lay.ranking(t)
        if not f.is_file():
            continue
        ranking = Ranking.load(f)
        wer = {s: [metric(f"{s}->{t}", "wer")] for s in ranking.sources}
        if any(v[0] is None for v in wer.values()):
            continue
        for name, scores in ranking.rankers.items():
            per.setdefault(name, {})[t] = judge(scores, wer)
    summary = {}
    for name, targets in per.items():
        rhos = [j["spearman"] for j in targets.values() if j["spearman"] is not None]
        summary[name] = {"mean_spearman": round(sum(rhos) / len(rhos), 4) if rhos else None,
                         "top1": sum(j["top1"] for j in targets.values()),
                         "targets": len(targets),
                         "mean_regret": round(sum(j["regret"] for j in targets.values())
                                              / len(targets), 2)}
    return {"per_target": per, "summary": summary}


def corpora(study: Path, lay: StudyLayout, langs: list[str]) -> dict[str, dict | None]:
    """Which corpus each language came from (``describe_corpus`` of the corpus its
    large-budget pretraining run read: source, path, hours, speakers, sample rates); None
    where that run or its corpus is not there."""
    from asrtl.train.checkpoint import read_meta, resolve_checkpoint

    out: dict[str, dict | None] = {}
    for lang in langs:
        try:
            meta = read_meta(resolve_checkpoint(study / lay.pretrain_dir(lang, lay.large_hours)))
            out[lang] = describe_corpus(Path(str((meta.corpus or {})["dir"])))
        except (UserError, FileNotFoundError, KeyError, TypeError):
            out[lang] = None
    return out


def collect(study: str | Path) -> dict[str, Any]:
    """Every number of the study from its result files.

    Raises:
        FileNotFoundError: no ``study.json`` (not a study directory).
        ValueError: a corrupt result file, naming it.
    """
    study = Path(study)
    if not (study / "study.json").is_file():
        raise MissingInput(f"not an asrtl study (no study.json): {study}")
    meta = read_json(study / "study.json", "study record")
    lay = StudyLayout.from_dict(meta)
    langs: list[str] = list(meta["languages"])
    missing: list[str] = []
    runs: dict[str, dict] = {}
    for t in langs:
        runs[f"none->{t}"] = _score(study, lay.scratch_small(t), missing)
        runs[f"large:{t}"] = _score(study, lay.large_scratch(t), missing)
        for s in langs:
            runs[f"{s}->{t}"] = _score(study, lay.transfer(s, t), missing)
    focus = meta.get("focus") or {}
    ft, fs = focus.get("target"), focus.get("source")
    if ft and fs:
        runs[f"{fs}:small->{ft}"] = _score(study, lay.small_source(fs, ft), missing)
        runs[f"{fs}->{ft}:{lay.adaptation}"] = _score(study, lay.adapted(fs, ft), missing)

    lid_matrix = _read(study, lay.lid_matrix(), missing)
    rankings = (_read(study, lay.lid_file("rankings.json"), missing) or {}) \
        if len(langs) >= 3 else {}  # leave-one-out needs 3 languages; with 2 the matrix ranks
    accuracy = _read(study, lay.lid_file("accuracy.json"), missing)

    def metric(key: str, m: str) -> float | None:
        r = runs.get(key)
        return None if r is None else r[m]

    matrices = {m: {"none": {t: metric(f"none->{t}", m) for t in langs},
                    **{s: {t: metric(f"{s}->{t}", m) for t in langs} for s in langs}}
                for m in ("wer", "cer")}
    def not_improved(t: str, m: str) -> list[str]:
        base = metric(f"none->{t}", m)
        return sorted(s for s in langs if s != t and base is not None
                      and metric(f"{s}->{t}", m) is not None and metric(f"{s}->{t}", m) >= base)

    per_target = {}
    for t in langs:
        cands = [s for s in langs if s != t and metric(f"{s}->{t}", "wer") is not None]
        by_wer = sorted(cands, key=lambda s: (metric(f"{s}->{t}", "wer"), s))
        scores, mode = lid_scores(t, rankings, lid_matrix)  # < 3 languages: the matrix row
        pick = best_source(scores) if scores else None  # the study's rule (ties: by name)
        both = [s for s in cands if s in scores]
        per_target[t] = {
            "lid_ranking": rank_by_score(scores), "lid_mode": mode,
            "lid_best": pick,
            "lid_confidence": rankings.get(t, {}).get("top_share_bootstrap", {}).get(pick)
            if pick else None,
            "wer_ranking": by_wer,
            "wer_best": by_wer[0] if by_wer else None,
            # LID agrees when its pick reaches the best WER (ties count as agreement)
            "agree": (metric(f"{pick}->{t}", "wer") == metric(f"{by_wer[0]}->{t}", "wer"))
            if pick and by_wer and pick in cands else None,
            "spearman_lid_score_vs_neg_wer": spearman(
                [scores[s] for s in both], [-metric(f"{s}->{t}", "wer") for s in both]),
            "not_improved_over_scratch": not_improved(t, "wer"),
            "not_improved_over_scratch_cer": not_improved(t, "cer"),
        }
    return {"study": meta.get("name", study.name), "languages": langs,
            "predictors": predictors(study, lay, langs, metric),
            "small_hours": lay.small_hours, "large_hours": lay.large_hours,
            "strategy": lay.strategy, "adaptation": lay.adaptation, "focus": focus,
            "notes": meta.get("notes", []), "runs": runs, "wer": matrices["wer"],
            "cer": matrices["cer"], "lid": {"matrix": lid_matrix, "rankings": rankings,
                                           "accuracy": accuracy},
            "per_target": per_target, "missing": sorted(missing),
            **({"corpora": known} if any((known := corpora(study, lay, langs)).values())
               else {})}  # a study kept without its runs (docs/example-study) has none


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _csv(matrix: dict[str, dict[str, float | None]], cols: list[str], corner: str,
         fmt: str = "{:.4f}") -> str:
    lines = [",".join([corner, *cols])]
    for row, vals in matrix.items():
        lines.append(",".join([row, *("" if vals.get(c) is None else fmt.format(vals[c])
                                      for c in cols)]))
    return "\n".join(lines) + "\n"


def _md_matrix(matrix: dict[str, dict[str, float | None]], cols: list[str], corner: str,
               fmt=_pct) -> list[str]:
    out = [f"| {corner} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for row, vals in matrix.items():
        out.append(f"| {row} | " + " | ".join(fmt(vals.get(c)) for c in cols) + " |")
    return out


def focus_table(res: dict[str, Any]) -> list[tuple[str, float | None, float | None, str]]:
    """The reference study's table for the focus target: (system, WER, CER, file)."""
    ft, fs = res["focus"].get("target"), res["focus"].get("source")
    if not ft or not fs:
        return []
    small, large = res["small_hours"], res["large_hours"]
    rows = [(f"{ft} {small:g} h, no pretraining", f"none->{ft}"),
            (f"{ft} {large:g} h, no pretraining", f"large:{ft}"),
            (f"{fs} {small:g} h -> {ft} {small:g} h", f"{fs}:small->{ft}"),
            (f"{fs} {large:g} h -> {ft} {small:g} h", f"{fs}->{ft}"),
            (f"{fs} {large:g} h -> {ft} {small:g} h + {res['adaptation']}",
             f"{fs}->{ft}:{res['adaptation']}"),
            (f"{ft} {large:g} h -> {ft} {small:g} h (same language)", f"{ft}->{ft}")]
    out = []
    for label, key in rows:
        r = res["runs"].get(key)
        out.append((label, r and r["wer"], r and r["cer"], r["file"] if r else "missing"))
    return out


def markdown(res: dict[str, Any]) -> str:
    langs = res["languages"]
    ft = res["focus"].get("target")
    lines = [f"# asrtl study: {res['study']}", "",
             f"Languages: {', '.join(langs)}. Target budget {res['small_hours']:g} h, source "
             f"budget {res['large_hours']:g} h; matrix strategy `{res['strategy']}`. WER and "
             "CER in %, greedy decoding of each target's held-out-speaker test set.", ""]
    lines += [f"- {n}" for n in res["notes"]] + ([""] if res["notes"] else [])
    lines += corpus_lines(res.get("corpora") or {})
    table = focus_table(res)
    if table:
        lines += [f"## {ft}: the reference study's table", "", "| System | WER % | CER % |",
                  "|---|---|---|"]
        lines += [f"| {label} | {_pct(w)} | {_pct(c)} |" for label, w, c, _ in table]
        lines += ["", f"The {res['focus']['source']} source was chosen by "
                  f"{res['focus'].get('chosen_by', 'the user')}.", ""]
    for m, name in (("wer", "WER"), ("cer", "CER")):
        lines += [f"## {name} matrix (%): pretrain on (rows) x adapt to (columns)", "",
                  "Row `none`: no pretraining, small budget. Diagonal: same-language "
                  "pretraining on the large budget.", ""]
        lines += _md_matrix(res[m], langs, "pretrain on \\ adapt to") + [""]
    lm = res["lid"]["matrix"]
    if lm:
        lines += ["## LID score matrix: mean frame posterior (rows: input language, "
                  "columns: predicted language)", ""]
        lines += _md_matrix(lm["frame_mean"], lm["columns"], "input \\ predicted",
                            fmt=lambda x: "n/a" if x is None else f"{x:.3f}") + [""]
    acc = res["lid"]["accuracy"]
    if acc:
        lines += [f"LID utterance accuracy on held-out speakers: "
                  f"{100 * acc['utterance_accuracy']:.1f} % ("
                  + ", ".join(f"{k} {100 * v:.1f} %" for k, v in acc["per_language"].items())
                  + ")", ""]
    lines += ["## Does LID pick the best source?", "",
              "LID ranking: each source's LID posterior averaged over the target's frames, "
              "from a classifier trained without the target (leave-one-out; with fewer than "
              "3 languages, the classifier over all of them, the target's own column left "
              "out). Best by WER: "
              "the source whose transfer reached the lowest WER. Spearman's rho between LID "
              "score and minus the WER over the sources: positive when LID ranks like WER "
              "(+1: the same order).", "",
              "| Target | LID ranking (top share in bootstrap) | Best by WER | Agree | rho |",
              "|---|---|---|---|---|"]
    agree = [v["agree"] for v in res["per_target"].values() if v["agree"] is not None]
    for t, v in res["per_target"].items():
        conf = "" if v["lid_confidence"] is None else f" ({100 * v['lid_confidence']:.0f} %)"
        rho = "n/a" if v["spearman_lid_score_vs_neg_wer"] is None else \
            f"{v['spearman_lid_score_vs_neg_wer']:+.2f}"
        ag = "n/a" if v["agree"] is None else ("yes" if v["agree"] else "no")
        lines.append(f"| {t} | {' > '.join(v['lid_ranking']) or 'n/a'}{conf} | "
                     f"{v['wer_best'] or 'n/a'} | {ag} | {rho} |")
    lines.append("")
    if agree:
        lines.append(f"LID picked the best source for {sum(agree)} of {len(agree)} targets"
                     + ("." if all(agree) else "; where it did not, this corpus disagrees "
                        "with the reference study's finding that LID picks the best source most of "
                        "the time." if sum(agree) * 2 <= len(agree) else
                        ", as the reference study found most of the time."))
        lines.append("")
    lines += predictor_lines(res.get("predictors") or {})
    lines += ["## Did transfer always improve over no pretraining?", ""]
    for m, key in (("WER", "not_improved_over_scratch"),
                   ("CER", "not_improved_over_scratch_cer")):
        worse = {t: v[key] for t, v in res["per_target"].items() if v[key]}
        metric_key = m.lower()
        pairs = [(s, t) for t in res["per_target"] for s in res["languages"]
                 if s != t and (res[metric_key].get(s) or {}).get(t) is not None
                 and (res[metric_key].get("none") or {}).get(t) is not None]
        share = (f" Negative transfer (the {res['strategy']} transfer worse than or equal to "
                 f"no pretraining) in {sum(len(s) for s in worse.values())} of {len(pairs)} "
                 f"pairs; one seed each, so a difference within the seed spread is not told "
                 f"apart." if pairs else "")
        if worse:
            lines.append(f"- By {m}: no. Not better than the small-budget baseline: " + "; ".join(
                f"{', '.join(s)} -> {t}" for t, s in worse.items()) + "." + share)
        else:
            lines.append(f"- By {m}: yes, every source beat the small-budget baseline for "
                         "every target.")
    lines.append("")
    if res["missing"]:
        lines += ["## Missing results", "", *[f"- `{m}`" for m in res["missing"]], ""]
    return "\n".join(lines)


def corpus_lines(corpora: dict[str, dict | None]) -> list[str]:
    """The "Corpora" section: where each language's speech came from."""
    if not corpora:
        return []
    lines = ["## Corpora", "", "| Language | Corpus | Train h (source budget) | Speakers "
             "train/dev/test | Sample rate (Hz) |", "|---|---|---|---|---|"]
    for lang, c in corpora.items():
        if c is None:
            lines.append(f"| {lang} | n/a | n/a | n/a | n/a |")
            continue
        corpus = c["source"] + (f" ({c['path']})" if c.get("path") else "")
        spk = "/".join(str((c["splits"].get(s) or {}).get("speakers", "-"))
                       for s in ("train", "dev", "test"))
        hours = (c["splits"].get("train") or {}).get("hours")
        lines.append(f"| {lang} | {corpus} | {'n/a' if hours is None else f'{hours:.3f}'} | "
                     f"{spk} | {', '.join(map(str, c['sample_rates'])) or 'n/a'} |")
    return [*lines, ""]


def predictor_lines(pred: dict[str, Any]) -> list[str]:
    """The "which predictor" section: each ranker of ``recipes/rank.py`` against WER."""
    lines = ["## Which predictor?", ""]
    if not pred.get("summary"):
        return lines + ["No source rankings in this study (`rank/<target>/ranking.json`, "
                        "written by `recipes/study.py` for 3 or more languages).", ""]
    lines += ["Each ranker of `recipes/rank.py` (reading only the target's train and dev "
              "splits) against the transfer WER measured here, one seed: mean Spearman rho "
              "between its score and minus the WER (positive: it ranks like WER), targets "
              "whose best source it put first, and the WER points lost by taking its pick.",
              "", "| Ranker | mean rho | top-1 | mean regret (WER points) | picks |",
              "|---|---|---|---|---|"]
    for name, v in pred["summary"].items():
        rho = "n/a" if v["mean_spearman"] is None else f"{v['mean_spearman']:+.2f}"
        picks = ", ".join(f"{t}: {j['pick']}" for t, j in pred["per_target"][name].items())
        lines.append(f"| {name} | {rho} | {v['top1']}/{v['targets']} | "
                     f"{v['mean_regret']:.1f} | {picks} |")
    return lines + [""]


def heatmap(path: Path, matrix: dict[str, dict[str, float | None]], cols: list[str],
            title: str, fmt: str, cmap: str, xlabel: str, ylabel: str,
            center: float | None = None) -> None:
    """An annotated heat map PNG (written atomically, no timestamp in its metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = list(matrix)
    data = np.array([[np.nan if matrix[r].get(c) is None else matrix[r][c] for c in cols]
                     for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(1.3 * len(cols) + 2.5, 0.6 * len(rows) + 1.8), dpi=100)
    kw = {}
    if center is not None:
        lim = np.nanmax(np.abs(data - center)) if np.isfinite(data).any() else 1.0
        kw = {"vmin": center - lim, "vmax": center + lim}
    im = ax.imshow(data, cmap=cmap, aspect="auto", **kw)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    lo, hi = im.get_clim()
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = data[i, j]
            text = "n/a" if np.isnan(v) else fmt.format(v)
            share = (abs(v - center) / max(hi - center, 1e-9) if center is not None
                     else (v - lo) / max(hi - lo, 1e-9))
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if not np.isnan(v) and share > 0.6 else "black")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
    tmp.replace(path)


def write_report(study: str | Path, res: dict[str, Any] | None = None) -> Path:
    """Writes ``<study>/report/`` from the stored results; returns the directory."""
    study = Path(study)
    res = collect(study) if res is None else res
    out = study / "report"
    out.mkdir(exist_ok=True)
    langs = res["languages"]
    write_text_atomic(out / "report.md", markdown(res))
    write_text_atomic(out / "wer.csv", _csv(res["wer"], langs, "pretrain_on"))
    write_text_atomic(out / "cer.csv", _csv(res["cer"], langs, "pretrain_on"))
    lm = res["lid"]["matrix"]
    write_text_atomic(out / "lid.csv", _csv(lm["frame_mean"], lm["columns"], "input")
                      if lm else "input\n")
    write_json_atomic(out / "results.json", res)
    pct = {r: {c: None if v is None else 100 * v for c, v in row.items()}
           for r, row in res["wer"].items()}
    heatmap(out / "wer_matrix.png", pct, langs, "WER % (pretrain on x adapt to)", "{:.1f}",
            "viridis_r", "adapt to (small budget)", "pretrain on (none: no pretraining)")
    if lm:
        heatmap(out / "lid_matrix.png", lm["frame_mean"], lm["columns"],
                "LID: mean frame posterior", "{:.2f}", "Blues", "predicted language",
                "input language")
    gain = {s: {t: None if pct[s][t] is None or pct["none"][t] is None
                else pct["none"][t] - pct[s][t] for t in langs} for s in langs}
    heatmap(out / "transfer_gain.png", gain, langs,
            "WER gain over no pretraining (points)", "{:+.1f}", "RdBu", "adapt to",
            "pretrain on", center=0.0)
    return out
