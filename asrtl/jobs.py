"""Recipes run as jobs of a larger command (the study, the demo): a subprocess per recipe,
grids as Hydra multiruns under a launcher, one failure named in one line."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

from asrtl.layout import RunLayout, is_finished

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent


def run_recipe(name: str, args: list[str], threads: int | None = None) -> None:
    """Runs ``recipes/<name>.py`` with ``args`` (``threads``: CPU threads per job).

    Raises:
        ValueError: the job failed, naming it.
    """
    cmd = [sys.executable, str(REPO / "recipes" / f"{name}.py"), *args]
    log.info("running %s", " ".join(cmd[1:]))
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads),
                                        "MKL_NUM_THREADS": str(threads)}
    res = subprocess.run(cmd, cwd=REPO, env=env)
    if res.returncode != 0:
        raise ValueError(f"job failed (exit {res.returncode}): recipes/{name}.py "
                         f"{' '.join(args)}")


def sweep(name: str, grid: dict[str, list[str]], args: list[str], launcher: str) -> None:
    """One Hydra multirun of ``recipes/<name>.py`` over ``grid`` (skipped when a value list
    is empty); under the joblib launcher the jobs share the cores (one thread each when
    there are more jobs than cores)."""
    if all(grid.values()):
        cpus, jobs = os.cpu_count() or 1, math.prod(len(v) for v in grid.values())
        threads = max(1, cpus // min(jobs, cpus)) if launcher == "joblib" else None
        run_recipe(name, ["-m", *(f"{k}={','.join(v)}" for k, v in grid.items()), *args,
                          f"hydra/launcher={launcher}"], threads)


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
