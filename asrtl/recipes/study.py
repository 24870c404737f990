"""The reference study in one command: pretraining, baselines, the transfer matrix, LID, report.

    python recipes/study.py languages=[bengali,assamese,thai,turkish]       # demo scale
    python recipes/study.py languages=[...] scale=full device=cuda          # hours, on a GPU
    python recipes/study.py languages=[...] hydra/launcher=joblib           # jobs in parallel

Jobs run as the recipes a user would run, grids as Hydra multiruns (``-m``) with the launcher
chosen here (``basic``: one after another; ``joblib``: in parallel; ``submitit_slurm``: on a
cluster). Each job writes into ``exp/study/<name>/`` with the layout of
:mod:`asrtl.study.layout`; a job whose result file exists is skipped and a stopped job
resumes, so killing the study and rerunning it finishes only what is missing. Then
``report/`` is written (``recipes/report.py study=...`` rebuilds it alone).
"""

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from asrtl.cli import check_overrides, lang_args, recipe
from asrtl.data.languages import caveats, get_language
from asrtl.errors import MissingInput, UserError
from asrtl.io import read_json, write_json_atomic
from asrtl.jobs import pretrain_sources, run_recipe, sweep
from asrtl.study.layout import StudyLayout, best_source, lid_scores
from asrtl.study.report import write_report

log = logging.getLogger("study")


def focus_source(study: Path, lay: StudyLayout, target: str, languages: list[str]
                 ) -> tuple[str, str]:
    """The source LID puts first for ``target``, and how it was chosen: the leave-one-out
    ranking, or with fewer than 3 languages the classifier's own matrix (the target's
    column left out); the report's ``lid_best`` by the same rule (ties: by name).

    Raises:
        FileNotFoundError: the LID run has no score for ``target``.
    """
    def read(rel: str) -> dict | None:
        f = study / rel
        return read_json(f, "LID result") if f.is_file() else None

    rankings = read(lay.lid_file("rankings.json")) if len(languages) >= 3 else None
    scores, mode = lid_scores(target, rankings, read(lay.lid_matrix()))
    if not scores:
        raise MissingInput(f"no LID score for {target} in {study / lay.lid}: give "
                           f"focus.source=... or rerun the study")
    how = {"leave-one-out": "LID (leave-one-out)",
           "matrix": "LID (matrix row; leave-one-out needs 3 languages)" if len(languages) < 3
           else "LID (matrix row; no leave-one-out ranking)"}[mode]
    return best_source(scores), how


@hydra.main(config_path="../conf", config_name="study", version_base="1.3")
@recipe
def main(cfg: DictConfig) -> None:
    study = Path(HydraConfig.get().runtime.output_dir)
    langs = [str(x) for x in cfg.languages]
    if len(langs) < 2 or len(set(langs)) != len(langs):
        raise UserError(f"a study needs at least 2 distinct languages, got {langs}")
    embedded = not any(str(o).startswith("data=") for o in cfg.overrides)
    if embedded:
        for lang in langs:
            get_language(lang)  # unknown languages fail before any job starts
    target = str(cfg.focus.target or langs[0])
    if target not in langs:
        raise UserError(f"focus.target={target} is not one of languages={langs}")
    launcher = HydraConfig.get().runtime.choices.get("hydra/launcher", "basic")
    lay = StudyLayout(cfg.scale.small_hours, cfg.scale.large_hours, cfg.strategy,
                      cfg.adaptation, "lid")
    meta = {"name": cfg.name, "languages": langs, "small_hours": lay.small_hours,
            "large_hours": lay.large_hours, "strategy": lay.strategy,
            "adaptation": lay.adaptation, "lid": lay.lid,
            "focus": {"target": target, "source": cfg.focus.source, "chosen_by": None},
            "jobs": list(cfg.scale.jobs) + list(cfg.overrides),
            "notes": caveats(langs) if embedded else []}
    write_json_atomic(study / "study.json", meta)
    common = [f"exp_dir={study}", f"seed={cfg.seed}", f"device={cfg.device}",
              *cfg.scale.jobs, *cfg.overrides, *lang_args(cfg)]
    small, large = f"{lay.small_hours:g}", f"{lay.large_hours:g}"

    def todo(paths: dict[str, str]) -> list[str]:
        return [k for k, rel in paths.items() if not (study / rel).is_file()]

    # 0-1. corpora, then every language on the large budget: the sources, and each target's
    # large baseline
    pretrain_sources(study, langs, lay.large_hours, common,
                     [f"exp_dir={study}", f"seed={cfg.seed}", *cfg.overrides, *lang_args(cfg)],
                     launcher)
    # 2. no pretraining, small budget
    sweep("transfer", {"source": ["none"],
                       "target": todo({t: lay.scratch_small(t) for t in langs})},
          [f"target_hours={small}", *common], launcher)
    # 3. every pair, diagonal included: large source -> small target
    for t in langs:
        sweep("transfer", {"source": todo({s: lay.transfer(s, t) for s in langs}),
                           "target": [t]},
              [f"target_hours={small}", f"source_hours={large}", f"strategy={lay.strategy}",
               *common], launcher)
    # 4. language ID over all the languages (matrix, leave-one-out rankings)
    if not (study / lay.lid_matrix()).is_file():
        run_recipe("lid", [f"sources=[{','.join(langs)}]", f"seed={cfg.seed}",
                           f"device={cfg.device}", f"hydra.run.dir={study / lay.lid}",
                           *cfg.scale.lid, *cfg.overrides, *lang_args(cfg)])
    # 5. every ranker of recipes/rank.py for each target, the other languages its candidates
    # (the pretrained sources and the leave-one-out LID classifiers reused; never the test)
    if len(langs) >= 3:
        for t in langs:
            if not (study / lay.ranking(t)).is_file():
                run_recipe("rank", [
                    f"target={t}", f"sources=[{','.join(s for s in langs if s != t)}]",
                    f"target_hours={small}", f"source_hours={large}", "train_missing=false",
                    f"lid.checkpoint={study / lay.lid_file(f'loo/{t}')}",
                    f"hydra.run.dir={study / lay.rank_dir(t)}", *common])
    # 6. the reference table's extra rows for the focus target
    source, how = ((str(cfg.focus.source), "the user") if cfg.focus.source else
                   focus_source(study, lay, target, langs))
    meta["focus"].update(source=source, chosen_by=how)
    write_json_atomic(study / "study.json", meta)
    small_run = study / lay.transfer_dir(source, target, source_hours=lay.small_hours)
    if not (study / lay.small_source(source, target)).is_file():
        run_recipe("transfer", [f"source={source}", f"target={target}",
                                f"target_hours={small}", f"source_hours={small}", *common,
                                f"hydra.run.dir={small_run}"])
    if not (study / lay.adapted(source, target)).is_file():
        run_recipe("transfer", [f"source={source}", f"target={target}",
                                f"strategy={lay.adaptation}", f"target_hours={small}",
                                f"source_hours={large}", *common])
    out = write_report(study)
    print(f"study {cfg.name}: report in {out / 'report.md'}")


if __name__ == "__main__":
    check_overrides("study")
    main()
