"""The mission in one command: which source should bengali borrow from, and what does
transfer gain over no pretraining? (``make demo``)

    python recipes/demo.py
    python recipes/demo.py target=assamese sources=[bengali,thai,turkish]
    python recipes/demo.py --config-name demo_real    # recorded telephone speech (make demo-real)

Pretrains the candidate sources (``source_hours``), ranks them for the target with
``recipes/rank.py`` (its train and dev splits only), transfers from the top-ranked and the
bottom-ranked source and trains from scratch on the same small budget, then prints one table:
source, ranker score, test WER/CER, training wall time. Every job is the recipe a user runs,
cached under ``exp_dir``: a rerun reuses everything and prints the same table.
"""

import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from asrtl.cli import check_overrides, lang_args, recipe
from asrtl.jobs import pretrain_sources, run_recipe, sweep
from asrtl.layout import RunLayout, result_file
from asrtl.rank.run import check_sources
from asrtl.records import Ranking, TransferSummary


@hydra.main(config_path="../conf", config_name="demo", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    exp = Path(HydraConfig.get().runtime.output_dir)
    runs = RunLayout(exp)
    target, sources = str(cfg.target), [str(s) for s in cfg.sources]
    check_sources(target, sources)
    small, large = f"{cfg.target_hours:g}", f"{cfg.source_hours:g}"
    common = [f"exp_dir={exp}", f"seed={cfg.seed}", f"device={cfg.device}", *cfg.jobs,
              *lang_args(cfg)]
    t0 = time.perf_counter()
    ranking_file = result_file(runs.rank(target), "rank")
    if not ranking_file.is_file():
        pretrain_sources(exp, sources, cfg.source_hours, common,
                         [f"exp_dir={exp}", f"seed={cfg.seed}", *lang_args(cfg)], cfg.launcher,
                         also_prepare=(target,))
        run_recipe("rank", [f"target={target}", f"sources=[{','.join(sources)}]",
                            f"target_hours={small}", f"source_hours={large}",
                            "train_missing=false", *common, *cfg.rank])
    ranking = Ranking.load(ranking_file)
    order = ranking.order
    chosen = [order[0], order[-1], "none"]  # the top-ranked, the bottom-ranked, scratch
    summary = {s: result_file(runs.transfer(s, target, "finetune"), "transfer") for s in chosen}
    sweep("transfer", {"source": [s for s in chosen if not summary[s].is_file()],
                       "target": [target]},
          [f"target_hours={small}", f"source_hours={large}", *common], cfg.launcher)
    print(f"\nWhich source for {target}? Ranked on its {small} h of training audio and its "
          f"dev split; then transferred ({large} h source -> {small} h target, finetune):\n")
    print("| source | rank | combined score | test WER % | test CER % | train s |")
    print("|---|---|---|---|---|---|")
    for s in chosen:
        out = TransferSummary.load(summary[s])
        rank = f"{order.index(s) + 1} of {len(order)}" if s in order else "-"
        score = f"{ranking.rankers['combined'][s]:.2f}" if s in order else "-"
        label = s if s != "none" else "none (no pretraining)"
        print(f"| {label} | {rank} | {score} | {out.wer_percent:.1f} | "
              f"{out.cer_percent:.1f} | {out.wall_s or 0:.0f} |")
    conf = ranking.confidence
    print(f"\nRanking: {' > '.join(order)} ({conf['top_agreement']:.0%} of the combined rankers "
          f"put {conf['top']} first; ranking took {sum(ranking.wall_s.values()):.0f} s)")
    print(f"Files: {ranking_file}, {runs.transfer('<source>', target, 'finetune')}/"
          f"{{summary.json,results/}}; this run: {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    check_overrides("demo")
    main()
