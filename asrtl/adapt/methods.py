"""Speaker adaptation of a trained CTC model from a few utterances of one speaker.

Methods (``conf/method/*.yaml``), all over the transfer code's freezing mechanics:

- ``lhuc``: learning hidden unit contributions (Swietojanski & Renals): every encoder
  layer's output units scaled by ``2 * sigmoid(r)``, ``r`` initialised to 0 (the identity);
  only the ``r`` train (``num_layers x dim`` numbers).
- ``finetune_lower``: the first ``layers`` units (``frontend``, ``encoder.layers.0``, ...)
  train, the rest is frozen: speaker differences live in the first layers.
- ``finetune_all``: everything trains, with a small learning rate.
- ``kl``: everything trains, the loss regularised by the KL divergence of the adapted
  model's frame posteriors from the speaker-independent model's (Yu et al., 2013).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from asrtl.errors import UserError
from asrtl.models.ctc import CTCModel
from asrtl.models.layers import set_trainable
from asrtl.models.peft import encoder_layers

METHODS = ("lhuc", "finetune_lower", "finetune_all", "kl")


class LHUC(nn.Module):
    """Per-unit output scales ``2 * sigmoid(r)`` of each encoder layer (``r``: ``(dim,)``).

    ``attach`` hooks them onto a model; the parameters live here, apart from the model, so a
    speaker's adaptation is this module's ``state_dict`` alone.
    """

    def __init__(self, num_layers: int, dim: int) -> None:
        super().__init__()
        self.r = nn.ParameterList(nn.Parameter(torch.zeros(dim)) for _ in range(num_layers))
        self._handles: list[Any] = []

    def attach(self, model: CTCModel) -> LHUC:
        self.detach()
        for (_, layer), r in zip(encoder_layers(model), self.r, strict=True):
            def hook(_m: nn.Module, _inp: Any, out: Any, r: nn.Parameter = r) -> Any:
                scale = 2 * torch.sigmoid(r)  # (..., D): time-first or batch-first
                if isinstance(out, tuple):  # wav2vec 2.0 layers: (x, position_bias)
                    return (out[0] * scale, *out[1:])
                return out * scale
            self._handles.append(layer.register_forward_hook(hook))
        return self

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


@dataclass
class Adaptation:
    """What a method trains: ``params`` (``name -> parameter``), saved after adaptation;
    ``lhuc`` when the method adds LHUC scales; ``reference`` (a frozen copy of the
    speaker-independent model) when the loss is KL-regularised; ``steps``: how many
    adaptation steps were taken."""

    params: dict[str, nn.Parameter]
    lhuc: LHUC | None = None
    reference: CTCModel | None = None
    steps: int = 0

    def parameters(self) -> Iterator[nn.Parameter]:
        return iter(self.params.values())


def prepare(model: CTCModel, method: str, layers: int = 2) -> Adaptation:
    """Freezes ``model`` as ``method`` needs and returns what trains.

    Raises:
        ValueError: an unknown method, or ``layers`` outside ``1 .. number of units``.
    """
    if method not in METHODS:
        raise UserError(f"unknown adaptation method {method!r}; known: {', '.join(METHODS)}")
    names = model.layer_names()
    if method == "lhuc":
        for p in model.parameters():
            p.requires_grad_(False)
        lhuc = LHUC(len(encoder_layers(model)), model.cfg.dim).attach(model)
        return Adaptation({f"lhuc.r.{i}": r for i, r in enumerate(lhuc.r)}, lhuc=lhuc)
    if method == "finetune_lower":
        if not 1 <= layers <= len(names):
            raise UserError(f"finetune_lower: layers must be 1..{len(names)}, got {layers}")
        set_trainable(model, names[:layers])
    else:
        set_trainable(model, names)
    reference = None
    if method == "kl":
        reference = copy.deepcopy(model).eval()
        for p in reference.parameters():
            p.requires_grad_(False)
    return Adaptation({n: p for n, p in model.named_parameters() if p.requires_grad},
                      reference=reference)
