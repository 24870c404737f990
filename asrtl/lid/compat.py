"""LID's deprecated ``hours=`` key (now ``data.hours``, as in every recipe): read with a
warning, and run dirs begun under it carried over. To be removed in the next release."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, open_dict

from asrtl.errors import UserError
from asrtl.io import read_json, write_json_atomic

log = logging.getLogger(__name__)


def deprecated_hours(cfg: DictConfig) -> None:
    """``hours=X``, the old key, as ``data.hours=X`` (the key of every recipe), with a
    warning; it wins over ``data.hours`` as it did. ``cfg.hours`` is then ``None``.

    Raises:
        ValueError: ``hours`` is not a number.
    """
    hours = cfg.get("hours")
    if hours is None:
        return
    if isinstance(hours, bool) or not isinstance(hours, (int, float)):
        raise UserError(f"hours (deprecated: data.hours): expected hours of audio, got "
                        f"{hours!r}")
    log.warning("hours=%s is deprecated and will be removed: use data.hours=%s (as in every "
                "recipe); it replaces data.hours=%s", hours, hours, cfg.data.hours)
    with open_dict(cfg):
        cfg.data.hours = hours
        cfg.hours = None


def upgrade_run_json(run_dir: Path) -> None:
    """A run dir begun when LID read ``hours``: its ``run.json`` rewritten to ``data.hours``
    (the setting it trained with), so that the same run resumes rather than clashes."""
    f = run_dir / "run.json"
    old = read_json(f, "run config") if f.is_file() else {}
    if old.get("hours") is not None:
        old.setdefault("data", {})["hours"], old["hours"] = old["hours"], None
        write_json_atomic(f, old)
