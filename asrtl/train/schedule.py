"""Learning-rate schedules as pure functions of the step (nothing to save, exact on resume)."""

from __future__ import annotations

import math

from asrtl.errors import UserError

SCHEDULES = ("cosine", "linear", "constant", "triangular")


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str = "cosine",
              final_ratio: float = 0.05) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based).

    ``cosine``/``linear``/``constant``: linear warm-up over ``warmup_steps``, then decay to
    ``final_ratio`` (or stay). ``triangular``: ULMFiT's slanted triangular rate (warm-up is the
    short rising part, then linear decay).

    Raises:
        ValueError: for an unknown schedule.
    """
    if schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if schedule == "cosine":
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0 - (1.0 - final_ratio) * progress  # linear, triangular
