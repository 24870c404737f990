"""Features of every layer of a frozen encoder (``strategy=features``, ``model.featurizer``).

- ``last``: the last layer's output, as a plain frozen-encoder transfer uses.
- ``all``: a learned softmax-weighted sum of every layer's output (the frontend's included),
  each layer-normalised first: SUPERB's featurizer (s3prl ``Featurizer``, ESPnet
  ``multilayer_feature``, SpeechBrain ``WeightedSSLModel``). The weights say which depth of
  the source the target uses.
- ``fne``: the full-network embedding of Garcia-Gasulla et al. (2018) for frames: every
  layer's output standardised with statistics of the *target's* training split (set once,
  before training, :meth:`Featurizer.set_statistics`), optionally discretised to
  {-1, 0, 1} (thresholds -0.25 and 0.15, theirs), concatenated and projected to the model
  width.

Shapes: ``states`` is ``num_states`` tensors ``(B, T, D)``; the output is ``(B, T, D)``.
"""

from __future__ import annotations

import torch
from torch import nn

from asrtl.errors import UserError

MODES = ("none", "last", "all", "fne")
FNE_LOW, FNE_HIGH = -0.25, 0.15  # Garcia-Gasulla et al.'s discretisation thresholds


class Featurizer(nn.Module):
    """One feature sequence from the states of every layer.

    Args:
        mode: ``last``, ``all`` or ``fne``.
        num_states: the states given: the frontend's output and each encoder layer's.
        dim: their width (and the output's).
        discretize: ``fne`` only: values standardised then mapped to {-1, 0, 1}.
    """

    def __init__(self, mode: str, num_states: int, dim: int, discretize: bool = False) -> None:
        super().__init__()
        if mode not in MODES[1:]:
            raise UserError(f"model.featurizer must be one of {list(MODES)}, got {mode!r}")
        self.mode, self.num_states, self.discretize = mode, num_states, discretize
        if mode == "all":
            self.weights = nn.Parameter(torch.zeros(num_states))  # uniform to start
        if mode == "fne":
            self.register_buffer("mean", torch.zeros(num_states, dim))
            self.register_buffer("std", torch.ones(num_states, dim))
            self.proj = nn.Linear(num_states * dim, dim)

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        if len(states) != self.num_states:
            raise ValueError(f"{len(states)} states for a featurizer of {self.num_states}")
        if self.mode == "last":
            return states[-1]
        if self.mode == "all":
            w = self.weights.softmax(0)
            return sum(w[i] * nn.functional.layer_norm(s, s.shape[-1:])
                       for i, s in enumerate(states))
        z = [(s - self.mean[i]) / self.std[i] for i, s in enumerate(states)]
        if self.discretize:
            z = [torch.where(v > FNE_HIGH, 1.0, torch.where(v < FNE_LOW, -1.0, 0.0)) for v in z]
        return self.proj(torch.cat(z, dim=-1))

    def layer_weights(self) -> list[float] | None:
        """``all``: each state's weight (frontend first), summing to 1; else None."""
        if self.mode != "all":
            return None
        return [round(float(v), 4) for v in self.weights.detach().softmax(0)]

    @torch.no_grad()
    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """``fne``: each state's per-dimension mean and standard deviation ``(num_states, D)``
        over the target's training frames."""
        if self.mode != "fne":
            return
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=1e-5))
