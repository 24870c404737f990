"""The run directory: one stable place per run, resumed rather than clobbered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asrtl.io import write_json_atomic

# Settings that may change between a run and its resumption (budgets, hardware, decoding).
RESUMABLE_CHANGES = ("train.epochs", "device", "decode", "train.num_workers", "exp_dir")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def claim_run_dir(run_dir: Path, config: dict[str, Any]) -> bool:
    """Records ``config`` in ``run_dir/run.json``, or checks it against a previous run's.

    Returns:
        True when the directory holds an earlier run of the same configuration (resume).

    Raises:
        ValueError: when the directory holds a run of another configuration, naming the
            settings that differ (a rerun resumes; it never clobbers).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    f = run_dir / "run.json"
    if not f.is_file():
        write_json_atomic(f, config)
        return False
    old, new = _flatten(json.loads(f.read_text())), _flatten(config)
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)
                  and not k.startswith(RESUMABLE_CHANGES))
    if diff:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:4])
        raise ValueError(f"{run_dir} holds a run with other settings ({shown}); use another "
                         f"exp_dir or remove it")
    write_json_atomic(f, config)
    return True
