"""Adaptation mechanics shared by the transfer strategies: freezing layers and per-layer
learning-rate groups. Layers are the model's named units, input to output:
``frontend``, ``encoder.layers.0`` ... ``encoder.layers.N-1``, ``head``."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from asrtl.models.ctc import CTCModel
from asrtl.transfer.copy import resolve_layers


def layer_parameters(model: CTCModel, layer: str) -> list[nn.Parameter]:
    """The parameters of one named layer."""
    return list(model.get_submodule(layer).parameters())


def set_trainable(model: CTCModel, layers: Iterable[str]) -> list[str]:
    """Trains exactly ``layers`` (names validated), freezes every other parameter.

    Returns:
        The names of the frozen parameters.

    Raises:
        ValueError: an unknown layer name, or no layer at all (nothing to train).
    """
    chosen = set(resolve_layers(model, list(layers)))
    if not chosen:
        raise ValueError("nothing to train: the strategy leaves every layer frozen")
    frozen = []
    for layer in model.layer_names():
        for name, p in model.get_submodule(layer).named_parameters(prefix=layer):
            p.requires_grad_(layer in chosen)
            if layer not in chosen:
                frozen.append(name)
    return frozen


def discriminative_groups(model: CTCModel, decay: float, toward: str = "input"
                          ) -> list[dict]:
    """Optimizer groups whose learning-rate scale decays by ``decay`` per layer.

    ``toward="input"`` (ULMFiT): the head trains at the full rate, each layer below at
    ``decay`` times the one above. ``toward="output"``: the reverse, the frontend at the full
    rate. Frozen parameters are left to :func:`asrtl.train.loop.fit` to drop.

    Raises:
        ValueError: ``decay`` outside (0, 1] or an unknown direction.
    """
    if not 0 < decay <= 1:
        raise ValueError(f"discriminative decay must be in (0, 1], got {decay}")
    if toward not in ("input", "output"):
        raise ValueError(f"discriminative direction must be input or output, got {toward!r}")
    names = model.layer_names()
    depth = len(names) - 1
    return [{"name": layer, "params": layer_parameters(model, layer),
             "lr_scale": decay ** ((depth - i) if toward == "input" else i)}
            for i, layer in enumerate(names)]


def chain_thaw_stages(model: CTCModel, new_layers: Iterable[str]) -> list[list[str]]:
    """Chain-thaw (Felbo et al.): the new layers first, then each copied layer alone from
    first to last, then everything."""
    new = resolve_layers(model, list(new_layers))
    copied = [n for n in model.layer_names() if n not in new]
    return [new, *([n] for n in copied), model.layer_names()]


def gradual_unfreeze_stages(model: CTCModel) -> list[list[str]]:
    """ULMFiT's gradual unfreezing: the head, then one more layer from the top per stage."""
    names = model.layer_names()
    return [names[len(names) - k:] for k in range(1, len(names) + 1)]
