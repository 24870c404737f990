"""Recipes run as jobs of a larger command (the study, the demo): a subprocess per recipe,
grids as Hydra multiruns under a launcher, one failure named in one line."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from asrtl.errors import UserError
from asrtl.layout import RunLayout, is_finished

log = logging.getLogger(__name__)


def run_recipe(name: str, args: list[str], threads: int | None = None) -> None:
    """Runs recipe ``name`` (:mod:`asrtl.recipes`) with ``args`` in a subprocess, in this
    process's working directory, so that relative paths mean what they mean here
    (``threads``: CPU threads per job).

    Raises:
        ValueError: the job failed, naming it.
    """
    # -P: the working directory is not put on sys.path (another checkout there is not
    # imported in place of this asrtl)
    cmd = [sys.executable, "-P", "-m", f"asrtl.recipes.{name}", *args]
    log.info("running %s", " ".join(cmd[1:]))
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads),
                                        "MKL_NUM_THREADS": str(threads)}
    res = subprocess.run(cmd, env=env)
    if res.returncode != 0:
        raise UserError(f"job failed (exit {res.returncode}): asrtl {name} "
                        f"{' '.join(args)}")


def sweep(name: str, grid: dict[str, list[str]], args: list[str], launcher: str) -> None:
    """One Hydra multirun of recipe ``name`` over ``grid`` (skipped when a value list
    is empty); under the joblib launcher the jobs share the cores (one thread each when
    there are more jobs than cores)."""
    if all(grid.values()):
        cpus, jobs = os.cpu_count() or 1, math.prod(len(v) for v in grid.values())
        threads = max(1, cpus // min(jobs, cpus)) if launcher == "joblib" else None
        run_recipe(name, ["-m", *(f"{k}={','.join(v)}" for k, v in grid.items()), *args,
                          f"hydra/launcher={launcher}"], threads)


def pretrain_missing(exp_dir: str | Path, sources: list[str], hours: float, cfg: Any,
                     device: Any) -> list[str]:
    """The job before a transfer or a ranking: each source language without a finished
    pretraining run in ``RunLayout(exp_dir).pretrain(<source>, hours)`` is pretrained here,
    in this process, one after another, with ``cfg``'s ``data``, ``model``, ``train``,
    ``decode`` and ``seed`` (the transfer's or the ranking's own); the plan is logged first.
    Sources that are not languages (``none``, ``multilingual:...``, checkpoints) are left
    to :func:`asrtl.transfer.source.resolve_source`. Returns the languages it pretrained."""
    from asrtl.train.run import pretrain_language
    from asrtl.transfer.source import is_language, is_pretrained, pretrain_dir, units_of

    units = units_of(cfg)
    todo = [s for s in dict.fromkeys(sources)
            if is_language(s) and not is_pretrained(pretrain_dir(exp_dir, s, hours, units))]
    if todo:
        log.info("plan: pretrain the missing source(s) %s on %g h each, in %s", ", ".join(todo),
                 hours, RunLayout(exp_dir).pretrain("<source>", hours, units))
    for source in todo:
        run_dir = pretrain_dir(exp_dir, source, hours, units)
        log.info("pretraining source %s on %g h in %s", source, hours, run_dir)
        data = {**cfg.data, "hours": hours}
        config = {"language": source, "data": data, "model": dict(cfg.model),
                  "train": dict(cfg.train), "seed": cfg.seed, "decode": dict(cfg.decode),
                  **({"units": units} if units != "chars" else {})}
        pretrain_language(run_dir, source, data, cfg.model, cfg.train, cfg.decode, device,
                          cfg.seed, config, units=units)
    return todo


def pretrain_sources(exp_dir: Path, languages: list[str], hours: float, common: list[str],
                     prepare_args: list[str], launcher: str,
                     also_prepare: tuple[str, ...] = ()) -> None:
    """The sources of a larger command: each language's corpus prepared first, one at a time
    (synthesis or import uses the cores itself), then pretrained on ``hours``, as two
    multiruns into ``RunLayout(exp_dir).pretrain(<language>, hours)``; finished runs skipped.

    Args:
        common: the pretraining jobs' arguments (``exp_dir=``, ``seed=``, overrides...).
        prepare_args: the preparation jobs' arguments.
        also_prepare: languages whose corpus is prepared but not pretrained (a target).
    """
    runs = RunLayout(exp_dir)
    todo = [s for s in languages if not is_finished(runs.pretrain(s, hours), "pretrain")]
    # the multiruns' run dirs, as templates Hydra fills with each ${language}
    prepare, pretrain = runs.prepare("${language}"), runs.pretrain("${language}", hours)
    sweep("prepare", {"language": [*also_prepare, *todo]},
          [f"data.hours={hours:g}", *prepare_args, f"hydra.sweep.dir={prepare.parent}",
           f"hydra.sweep.subdir={prepare.name}"], "basic")
    sweep("pretrain", {"language": todo},
          [f"data.hours={hours:g}", *common, f"hydra.sweep.dir={pretrain.parent}",
           f"hydra.sweep.subdir={pretrain.name}"], launcher)
