"""Recipes run as jobs of a larger command (the study, the demo): a subprocess per recipe,
grids as Hydra multiruns under a launcher, one failure named in one line."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
from pathlib import Path

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
