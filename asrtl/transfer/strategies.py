"""Adaptation mechanics shared by the transfer strategies: freezing layers and per-layer
learning-rate groups. Layers are the model's named units, input to output:
``frontend``, ``encoder.layers.0`` ... ``encoder.layers.N-1``, ``head``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

from asrtl.models.ctc import CTCModel
from asrtl.models.layers import resolve_layers, set_trainable


def layer_parameters(model: CTCModel, layer: str) -> list[nn.Parameter]:
    """The parameters of one named layer."""
    return list(model.get_submodule(layer).parameters())


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


def apply_strategy(model: CTCModel, strategy: Any, copied: Iterable[str]) -> dict[str, Any]:
    """Freezes and groups ``model`` as ``strategy`` (a ``conf/strategy/*.yaml``) says.

    The "new" layers are those not copied, plus the head (re-initialised or vocab-mapped).
    ``strategy.trainable`` is ``new``, ``all`` or an explicit list of layer names.

    Returns:
        Keyword arguments for :func:`asrtl.train.loop.fit` (``param_groups``, ``stages``,
        ``stage_epochs``) and ``frozen``, the parameters frozen from the start.

    Raises:
        ValueError: an unknown ``trainable``/``stages`` value, or nothing left to train.
    """
    copied = set(copied)
    new = [n for n in model.layer_names() if n not in copied or n == "head"]
    trainable = strategy.get("trainable", "all")
    if trainable == "new":
        layers = new
    elif trainable == "all":
        layers = model.layer_names()
    elif isinstance(trainable, str):
        raise ValueError(f"strategy.trainable must be new, all or a list of layers, got "
                         f"{trainable!r}")
    else:
        layers = list(trainable)
    frozen = set_trainable(model, layers)
    disc = strategy.get("discriminative")
    groups = (discriminative_groups(model, float(disc["decay"]), str(disc["toward"]))
              if disc else None)
    plan = strategy.get("stages")
    if plan not in (None, "chain_thaw", "gradual_unfreeze"):
        raise ValueError(f"strategy.stages must be chain_thaw, gradual_unfreeze or null, "
                         f"got {plan!r}")
    stages = (chain_thaw_stages(model, new) if plan == "chain_thaw" else
              gradual_unfreeze_stages(model) if plan == "gradual_unfreeze" else None)
    return {"param_groups": groups, "stages": stages,
            "stage_epochs": int(strategy.get("stage_epochs", 1)), "frozen": frozen}
