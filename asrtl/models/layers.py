"""A model's named layers (``frontend``, ``encoder.layers.N``, ``head``): choosing them by
name, and which of them train. Below the trainer and the transfer code, which both use it."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from asrtl.errors import UserError
from asrtl.models.ctc import CTCModel


def resolve_layers(model: CTCModel, layers: Iterable[str] | None) -> list[str]:
    """The layers to copy, in model order; default: all of them (the head vocab-mapped).

    Raises:
        ValueError: for a name that is not a layer of the model, listing the valid names.
    """
    valid = model.layer_names()
    if layers is None:
        return valid
    chosen = list(dict.fromkeys(str(n) for n in layers))
    unknown = [n for n in chosen if n not in valid]
    if unknown:
        raise UserError(f"unknown layer(s) {unknown} in transfer.layers; valid: "
                        f"{', '.join(valid)}")
    return [n for n in valid if n in chosen]


def set_trainable(model: CTCModel, layers: Iterable[str]) -> list[str]:
    """Trains exactly ``layers`` (names validated), freezes every other parameter.

    Returns:
        The names of the frozen parameters.

    Raises:
        ValueError: an unknown layer name, or no layer at all (nothing to train).
    """
    chosen = set(resolve_layers(model, list(layers)))
    if not chosen:
        raise UserError("nothing to train: the strategy leaves every layer frozen")
    frozen = []
    for layer in model.layer_names():
        for name, p in model.get_submodule(layer).named_parameters(prefix=layer):
            p.requires_grad_(layer in chosen)
            if layer not in chosen:
                frozen.append(name)
    return frozen


def freeze_frozen_norms(model: nn.Module) -> None:
    """Puts every batch norm whose parameters are all frozen in eval mode: a frozen layer
    keeps its running statistics too (call after ``model.train()``). In a model that reads
    its encoder through a featurizer (``strategy=features``), a frozen frontend and encoder
    go to eval mode whole: no dropout, features as extracted (and as the full-network
    embedding's statistics were taken)."""
    if getattr(getattr(model, "cfg", None), "featurizer", "none") != "none":
        for name in ("frontend", "encoder"):
            part = getattr(model, name)
            if not any(p.requires_grad for p in part.parameters()):
                part.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
