"""asrtl.layout.RunLayout: every run dir as the recipes spell it today, the finished checks,
and the one tie rule of the study's and the report's LID pick."""

from __future__ import annotations

import doctest
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

import asrtl.layout
import asrtl.study.layout
from asrtl.layout import FINISHED, RunLayout, is_finished, result_file, source_name
from asrtl.study.layout import StudyLayout, best_source, lid_scores, rank_by_score

EXP = RunLayout(Path("exp"))
SOURCES = ["assamese", "thai", "turkish"]


@pytest.mark.parametrize("got,literal", [
    # recipes/pretrain.py (conf/pretrain.yaml), and a source pretrained on a budget
    (EXP.pretrain("turkish"), "exp/pretrain/turkish"),
    (EXP.pretrain("assamese", 0.06), "exp/pretrain/assamese-0.06h"),
    (EXP.pretrain("bengali", 0.6), "exp/pretrain/bengali-0.6h"),
    (EXP.pretrain("bengali", 60.0), "exp/pretrain/bengali-60h"),
    # recipes/transfer.py (conf/transfer.yaml and its source_name resolver)
    (EXP.transfer("assamese", "bengali"), "exp/transfer/assamese-to-bengali/finetune"),
    (EXP.transfer("none", "bengali", "chain_thaw"), "exp/transfer/none-to-bengali/chain_thaw"),
    (EXP.transfer("multilingual:bengali+turkish", "bengali"),
     "exp/transfer/multilingual:bengali+turkish-to-bengali/finetune"),
    (EXP.transfer("from-checkpoint", "bengali", "ssl_finetune",
                  source_checkpoint="/w/turkish-w2v"),
     "exp/transfer/ckpt-turkish-w2v-to-bengali/ssl_finetune"),
    (EXP.transfer("from-checkpoint", "bengali",
                  source_checkpoint="exp/pretrain/turkish/checkpoints/step-000400/"),
     "exp/transfer/ckpt-turkish-step-000400-to-bengali/finetune"),
    (EXP.transfer("from-checkpoint", "bengali",
                  source_checkpoint="exp/transfer/thai-to-lao/chain_thaw"),
     "exp/transfer/ckpt-thai-to-lao-chain_thaw-to-bengali/finetune"),
    (EXP.transfer("from-checkpoint", "bengali", source_checkpoint="/w/xlsr_300m.pth"),
     "exp/transfer/ckpt-xlsr_300m-to-bengali/finetune"),
    # the study's small-source run (hydra.run.dir=...)
    (EXP.transfer("assamese", "bengali", source_hours=0.1),
     "exp/transfer/assamese-0.1h-to-bengali/finetune"),
    # recipes/multilingual.py, recipes/lid.py, recipes/rank.py, recipes/study.py, prepare
    (EXP.multilingual(["bengali", "turkish"]), "exp/multilingual/bengali+turkish"),
    (EXP.multilingual("bengali+turkish"), "exp/multilingual/bengali+turkish"),
    (EXP.lid(SOURCES), "exp/lid/assamese+thai+turkish"),
    (EXP.lid(SOURCES, "bengali"), "exp/lid/assamese+thai+turkish-to-bengali"),
    (EXP.lid(SOURCES, "/data/bn8k_recordings.jsonl.gz"),
     "exp/lid/assamese+thai+turkish-to-bn8k_recordings"),
    (EXP.rank("bengali"), "exp/rank/bengali"),
    (EXP.rank("/data/bn8k.jsonl.gz"), "exp/rank/bn8k.jsonl.gz"),
    (EXP.rank_lid(SOURCES), "exp/rank/lid/assamese+thai+turkish"),
    (EXP.study("bengali+assamese"), "exp/study/bengali+assamese"),
    (EXP.prepare("bengali"), "exp/prepare/bengali"),
    # recipes/demo.py's result files
    (result_file(EXP.rank("bengali"), "rank"), "exp/rank/bengali/ranking.json"),
    (result_file(EXP.transfer("thai", "bengali", "finetune"), "transfer"),
     "exp/transfer/thai-to-bengali/finetune/summary.json"),
    (result_file(EXP.pretrain("bengali", 0.6), "pretrain"),
     "exp/pretrain/bengali-0.6h/results/test/scores.json"),
])
def test_every_run_dir_is_the_one_the_recipes_use(got, literal):
    assert got == Path(literal)


def test_study_layout_keeps_its_relative_paths():
    lay = StudyLayout(0.1, 0.6, "finetune", "discriminative", "lid")
    assert lay.pretrain_dir("bengali", 0.6) == "pretrain/bengali-0.6h"
    assert lay.large_scratch("bengali") == "pretrain/bengali-0.6h/results/test/scores.json"
    assert lay.transfer_dir("assamese", "bengali") == "transfer/assamese-to-bengali/finetune"
    assert lay.scratch_small("bengali") == "transfer/none-to-bengali/finetune/summary.json"
    assert lay.transfer("assamese", "bengali") == \
        "transfer/assamese-to-bengali/finetune/summary.json"
    assert lay.small_source("assamese", "bengali") == \
        "transfer/assamese-0.1h-to-bengali/finetune/summary.json"
    assert lay.adapted("assamese", "bengali") == \
        "transfer/assamese-to-bengali/discriminative/summary.json"
    assert lay.lid_matrix() == "lid/lid_matrix.json"
    assert lay.lid_file("loo/bengali") == "lid/loo/bengali"
    assert lay.rank_dir("bengali") == "rank/bengali"
    assert lay.ranking("bengali") == "rank/bengali/ranking.json"
    full = StudyLayout(10, 60)  # scale=full: integral hours
    assert full.large_scratch("thai") == "pretrain/thai-60h/results/test/scores.json"
    assert full.small_source("thai", "lao") == "transfer/thai-10h-to-lao/finetune/summary.json"


@pytest.mark.parametrize("config,overrides,run", [
    ("pretrain", ["language=turkish"], EXP.pretrain("turkish")),
    ("prepare", ["language=turkish"], EXP.prepare("turkish")),
    ("transfer", ["source=assamese", "target=bengali"], EXP.transfer("assamese", "bengali")),
    ("transfer", ["source=none", "target=bengali", "strategy=chain_thaw"],
     EXP.transfer("none", "bengali", "chain_thaw")),
    ("transfer", ["target=bengali", "source_checkpoint=/w/turkish/checkpoints/step-000400"],
     EXP.transfer("from-checkpoint", "bengali",
                  source_checkpoint="/w/turkish/checkpoints/step-000400")),
    ("multilingual", ["languages=[bengali,turkish]"], EXP.multilingual(["bengali", "turkish"])),
    ("lid", ["sources=[assamese,thai,turkish]"], EXP.lid(SOURCES)),
    ("lid", ["sources=[assamese,thai,turkish]", "target=bengali"], EXP.lid(SOURCES, "bengali")),
    ("rank", ["target=bengali", "sources=[assamese,thai]"], EXP.rank("bengali")),
    ("study", ["languages=[bengali,assamese]"], EXP.study("bengali+assamese")),
])
def test_the_configs_run_dirs_are_the_layouts(config, overrides, run):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from asrtl.cli import CONF_DIR  # registers the resolvers

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(config, overrides=overrides, return_hydra_config=True)
    assert OmegaConf.select(cfg, "hydra.run.dir") == str(run)
    sweep = OmegaConf.select(cfg, "hydra.sweep.dir", default=None)
    if config not in ("prepare", "study"):  # -m grids keep the same layout
        assert Path(sweep) / OmegaConf.select(cfg, "hydra.sweep.subdir") == run


def test_the_cli_resolvers_and_the_old_helpers_are_the_layouts():
    from asrtl import cli
    from asrtl.transfer.source import is_pretrained, pretrain_dir

    assert cli.source_name is source_name and cli.lid_name is asrtl.layout.lid_name
    assert pretrain_dir("exp", "assamese", 0.06) == Path("exp/pretrain/assamese-0.06h")
    assert is_pretrained(Path("/nonexistent")) is False


def _touch(run: Path, *files: str) -> None:
    for f in files:
        (run / f).parent.mkdir(parents=True, exist_ok=True)
        (run / f).write_text("{}")


@pytest.mark.parametrize("kind,files", [
    ("pretrain", ["results/test/scores.json"]),
    ("transfer", ["summary.json"]),
    ("multilingual", ["checkpoints/best.json", "summary.json"]),
    ("lid", ["lid_matrix.json"]),
    ("rank", ["ranking.json"]),
])
def test_finished_means_every_last_file_is_there(tmp_path, kind, files):
    assert FINISHED[kind] == tuple(files)
    run = tmp_path / kind
    assert not is_finished(run, kind)
    _touch(run, "checkpoints/latest.json", "log/x.log", "results/dev/scores.json")
    assert not is_finished(run, kind)  # started, not finished
    _touch(run, *files[:-1])
    assert not is_finished(run, kind)  # multilingual: trained, not yet scored
    _touch(run, files[-1])
    assert is_finished(run, kind) and result_file(run, kind) == run / files[-1]


def test_an_unknown_kind_and_an_unfinished_multilingual_source_fail_by_name(tmp_path):
    import torch

    from asrtl.transfer.source import resolve_source

    with pytest.raises(ValueError, match="unknown kind of run 'decode'"):
        is_finished(tmp_path, "decode")
    _touch(RunLayout(tmp_path).multilingual(["thai", "turkish"]), "checkpoints/best.json")
    with pytest.raises(FileNotFoundError, match="summary.json.*languages=\\[thai,turkish\\]"):
        resolve_source("multilingual:thai+turkish", None, tmp_path, 0.6, None,
                       torch.device("cpu"))


def test_docstring_examples():
    for module in (asrtl.layout, asrtl.study.layout):
        assert doctest.testmod(module).failed == 0


def test_the_tie_rule_highest_score_then_name():
    assert best_source({"thai": 0.4, "bengali": 0.4, "turkish": 0.1}) == "bengali"
    assert best_source({"thai": 0.5, "bengali": 0.4}) == "thai"
    assert rank_by_score({"turkish": 0.2, "thai": 0.2, "assamese": 0.1}) == \
        ["thai", "turkish", "assamese"]
    with pytest.raises(ValueError, match="no candidate"):
        best_source({})
    # recipes/lid.py ranks with asrtl.lid.score.rank_sources: the same order on a tie
    from asrtl.lid.score import Posteriors, rank_sources

    post = Posteriors(["turkish", "thai", "bengali", "assamese"], ["u1"],
                      np.array([[3.0, 3.0, 1.0, 3.0]]), np.array([10.0]))
    scores = {r["source"]: r["score"] for r in rank_sources(post, exclude=["bengali"])}
    assert [r["source"] for r in rank_sources(post, exclude=["bengali"])] == \
        rank_by_score(scores) == ["assamese", "thai", "turkish"]


def _study_recipe():
    return importlib.import_module("asrtl.recipes.study")


def _write(root: Path, rel: str, data: dict) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(json.dumps(data))


@pytest.mark.parametrize("langs,loo", [(["bengali", "turkish", "thai", "assamese"], False),
                                       (["bengali", "turkish", "thai", "assamese"], True),
                                       (["bengali", "turkish", "thai"], False)])
def test_the_study_and_the_report_pick_the_same_source_on_a_tie(tmp_path, langs, loo):
    """turkish and thai tie for bengali. Before, the study took the matrix row's max by
    (score, name): turkish, the last name; the report sorted by (-score, name): thai."""
    from asrtl.study.report import collect

    lay = StudyLayout(0.1, 0.6)
    _write(tmp_path, "study.json", {"name": "tie", "languages": langs, "small_hours": 0.1,
                                    "large_hours": 0.6, "lid": "lid"})
    row = {"bengali": 0.5, "turkish": 0.2, "thai": 0.2, "assamese": 0.1}
    _write(tmp_path, lay.lid_matrix(), {"columns": langs, "frame_mean": {
        t: {s: row[s] for s in langs} for t in langs}})
    if loo:
        _write(tmp_path, lay.lid_file("rankings.json"), {"bengali": {"ranking": [
            {"source": s, "score": row[s]} for s in ("turkish", "thai", "assamese")]}})
    source, how = _study_recipe().focus_source(tmp_path, lay, "bengali", langs)
    per = collect(tmp_path)["per_target"]["bengali"]
    assert source == per["lid_best"] == "thai"
    assert per["lid_ranking"][:2] == ["thai", "turkish"]
    assert per["lid_mode"] == ("leave-one-out" if loo else "matrix")
    assert how == ("LID (leave-one-out)" if loo else "LID (matrix row; no leave-one-out ranking)")
    assert lid_scores("bengali", None, None) == ({}, "leave-one-out")
