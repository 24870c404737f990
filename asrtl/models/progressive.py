"""Progressive networks (Rusu et al. 2016; ``strategy=progressive``, ``model.columns``).

Each source is a frozen *column* (its frontend and encoder, the target's architecture); the
target column learns beside them, and before each of its layers ``i`` it adds, from every
column ``k``, a *lateral* of that column's input to its layer ``i``: Rusu's non-linear
lateral ``U relu(V (a h))``, a learned scale ``a``, a projection to half the width, a
non-linearity, and a projection back. ``U`` starts at zero, so the target column starts as
the model it was initialised from (the first source), and a useless column can be ignored;
nothing of a source is forgotten, as its column never trains.

Shapes: a column's states are ``num_layers + 1`` tensors ``(B, T', D)``; a lateral maps
``(B, T', D) -> (B, T', D)``.
"""

from __future__ import annotations

import torch
from torch import nn

from asrtl.models.encoder import Conv2dSubsampling, Encoder


class Column(nn.Module):
    """One frozen source: its ``frontend`` and ``encoder``, always in eval mode (no dropout,
    batch-norm statistics kept: the source as it was)."""

    def __init__(self, frontend: Conv2dSubsampling, encoder: Encoder) -> None:
        super().__init__()
        self.frontend, self.encoder = frontend, encoder
        super().train(False)

    def train(self, mode: bool = True) -> Column:  # noqa: ARG002 (a column never trains)
        return super().train(False)

    def states(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> list[torch.Tensor]:
        """The frontend's output and each layer's, ``num_layers + 1`` tensors."""
        x, lens = self.frontend(feats, feat_lens)
        return self.encoder.states(x, lens)


class Lateral(nn.Module):
    """``U relu(V (a h))``: ``(B, T', D) -> (B, T', D)``, zero at the start."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.down = nn.Linear(dim, max(1, dim // 2))
        self.up = nn.Linear(max(1, dim // 2), dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.up(torch.relu(self.down(self.scale * h)))

    def strength(self) -> float:
        """How much the target leans on this lateral: ``|a| * ||U||`` (0 at the start)."""
        return round(float(self.scale.detach().abs() * self.up.weight.detach().norm()), 5)


def lateral_strengths(model: nn.Module) -> list[list[float]] | None:
    """``[column][layer]`` strength of each lateral of a progressive model; None otherwise."""
    laterals = getattr(model, "laterals", None)
    if laterals is None:
        return None
    return [[layer[k].strength() for layer in laterals] for k in range(len(laterals[0]))]
