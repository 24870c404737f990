"""Parameter-efficient transfer: bottleneck adapters and LoRA inside a model's encoder layers.

Adapters (MMS, Pratap et al. 2023): after every encoder layer, ``x + up(relu(down(norm(x))))``
with ``up`` zero-initialised, so the model's output is unchanged when they are added. Each is
the child ``adapter`` of its layer (``encoder.layers.0.adapter.down.weight``), so it is copied
and frozen with its layer. LoRA (Hu et al. 2021): each attention projection ``W`` becomes
``W + alpha / r * B A`` with ``B`` zero-initialised, through :mod:`torch.nn.utils.parametrize`
(the attention code is untouched; ``W`` is stored as ``...parametrizations.<name>.original``
and the factors as ``...parametrizations.<name>.0.lora_A`` / ``lora_B``). The packed
``in_proj_weight`` of ``nn.MultiheadAttention`` gets one rank-``r`` pair per q, k and v, as
the separate ``q_proj``/``k_proj``/``v_proj`` of the wav2vec 2.0 attention do.

:func:`add_peft` records the settings in ``model.cfg``, so a checkpoint rebuilds its adapters
(:func:`asrtl.models.factory.build_model`); :func:`save_peft` / :func:`load_peft` write and
read the adapter tensors alone (a few hundred KB over a shared base model).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import parametrize

from asrtl.errors import MissingInput, UserError
from asrtl.models.ctc import TRAINING_SETTINGS

FORMAT_VERSION = 1
META_KEY = "asrtl_peft"
LAYER_LISTS = ("encoder.layers", "encoder.transformer.layers")  # CTCModel, Wav2Vec2CTC


class Adapter(nn.Module):
    """Residual bottleneck ``(..., D)`` -> ``(..., D)``: ``x + up(relu(down(norm(x))))``.

    ``up`` starts at zero: the adapter is the identity until it trains.
    """

    def __init__(self, dim: int, bottleneck: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(torch.relu(self.down(self.norm(x))))


class LoRA(nn.Module):
    """Parametrization ``W (O, I)`` -> ``W + alpha / rank * B A`` for ``blocks`` projections
    stacked along the output (3 for a packed q/k/v weight).

    ``lora_A`` is ``(blocks, rank, I)`` (Kaiming-uniform), ``lora_B`` ``(blocks, O / blocks,
    rank)`` (zeros): the weight is unchanged until ``B`` trains.
    """

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float,
                 blocks: int = 1) -> None:
        super().__init__()
        if out_features % blocks:
            raise UserError(f"LoRA: {out_features} output features do not split into "
                            f"{blocks} blocks")
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(blocks, rank, in_features))
        self.lora_B = nn.Parameter(torch.zeros(blocks, out_features // blocks, rank))
        for a in self.lora_A:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        delta = torch.bmm(self.lora_B, self.lora_A).reshape(weight.shape)  # (O, I)
        return weight + self.scale * delta.to(weight.dtype)


def _adapt_output(layer: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: the layer's output through ``layer.adapter`` (of a wav2vec 2.0 layer's
    ``(x, position_bias)``, ``x`` only)."""
    if isinstance(output, tuple):
        return (layer.adapter(output[0]), *output[1:])
    return layer.adapter(output)


def encoder_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The encoder layers adapters go into, by name: ``encoder.layers.N`` (:class:`CTCModel`)
    or ``encoder.transformer.layers.N`` (:class:`Wav2Vec2CTC`).

    Raises:
        ValueError: a model with neither.
    """
    for path in LAYER_LISTS:
        try:
            layers = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList) and len(layers):
            return [(f"{path}.{i}", layer) for i, layer in enumerate(layers)]
    raise UserError(f"adapters/LoRA need encoder layers at {' or '.join(LAYER_LISTS)}; "
                    f"{type(model).__name__} has none")


def _attention_weights(layer: nn.Module) -> list[tuple[nn.Module, str, int]]:
    """``(module, weight name, blocks)`` of a layer's attention projections: the packed
    ``in_proj_weight`` (3 blocks) and ``out_proj`` of ``nn.MultiheadAttention``, or the
    ``q_proj``/``k_proj``/``v_proj``/``out_proj`` linears of the wav2vec 2.0 attention."""
    found = []
    for m in layer.modules():
        if isinstance(m, nn.MultiheadAttention):
            if not m._qkv_same_embed_dim:
                raise UserError("LoRA needs the packed in_proj_weight of nn.MultiheadAttention")
            found += [(m, "in_proj_weight", 3), (m.out_proj, "weight", 1)]
        elif all(isinstance(getattr(m, p, None), nn.Linear)
                 for p in ("q_proj", "k_proj", "v_proj", "out_proj")):
            found += [(getattr(m, p), "weight", 1)
                      for p in ("q_proj", "k_proj", "v_proj", "out_proj")]
    return found


def _check_size(key: str, value: Any) -> int:
    try:
        ok = not isinstance(value, bool) and float(value).is_integer() and float(value) >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"{key} must be a non-negative integer, got {value!r}")
    return int(value)


def peft_settings(model: nn.Module) -> dict[str, Any]:
    """The model's ``{"adapter_dim", "lora_rank", "lora_alpha"}`` (zeros: none)."""
    cfg = model.cfg
    return {"adapter_dim": cfg.adapter_dim, "lora_rank": cfg.lora_rank,
            "lora_alpha": float(cfg.lora_alpha)}


def has_peft(model: nn.Module) -> bool:
    """Whether the model has adapters or LoRA (its modules, or its config says so)."""
    cfg = getattr(model, "cfg", None)
    if cfg is not None and (getattr(cfg, "adapter_dim", 0) or getattr(cfg, "lora_rank", 0)):
        return True
    return any(isinstance(m, (Adapter, LoRA)) for m in model.modules())


def add_peft(model: nn.Module, adapter_dim: int = 0, lora_rank: int = 0,
             lora_alpha: float = 16.0) -> None:
    """Adds bottleneck adapters and/or LoRA to every encoder layer, in place; the model's
    outputs are unchanged until they train. Sets ``model.cfg``'s ``adapter_dim``,
    ``lora_rank`` and ``lora_alpha``.

    Args:
        model: a :class:`CTCModel` or :class:`Wav2Vec2CTC` without adapters.
        adapter_dim: adapter bottleneck width (0: no adapters).
        lora_rank: LoRA rank on the attention projections (0: no LoRA).
        lora_alpha: LoRA scale numerator (the update is ``alpha / rank * B A``).

    Raises:
        ValueError: a negative size, nothing to add, a model that already has adapters or
            LoRA, one without known encoder layers, or LoRA on layers without attention.
    """
    adapter_dim = _check_size("adapter_dim", adapter_dim)
    lora_rank = _check_size("lora_rank", lora_rank)
    if lora_rank and not float(lora_alpha) > 0:
        raise UserError(f"lora_alpha must be > 0, got {lora_alpha!r}")
    if not adapter_dim and not lora_rank:
        raise UserError("add_peft: nothing to add (adapter_dim=0 and lora_rank=0)")
    if has_peft(model):
        raise UserError(f"model already has adapters/LoRA ({_describe(peft_settings(model))})"
                        f": add_peft adds them once")
    layers = encoder_layers(model)
    targets = {name: _attention_weights(layer) for name, layer in layers} if lora_rank else {}
    bare = [name for name, found in targets.items() if not found]
    if bare:
        raise UserError(f"lora_rank={lora_rank}: encoder layer {bare[0]} "
                        f"({type(model.get_submodule(bare[0])).__name__}) has no attention "
                        f"projections (use adapter_dim)")
    for name, layer in layers:
        ref = next(layer.parameters())
        if adapter_dim:
            layer.adapter = Adapter(model.cfg.dim, adapter_dim).to(ref.device, ref.dtype)
            layer.register_forward_hook(_adapt_output)
        for module, weight, blocks in targets.get(name, []):
            out_features, in_features = getattr(module, weight).shape
            lora = LoRA(out_features, in_features, lora_rank, float(lora_alpha), blocks)
            parametrize.register_parametrization(module, weight, lora.to(ref.device, ref.dtype))
    model.cfg = replace(model.cfg, adapter_dim=adapter_dim, lora_rank=lora_rank,
                        lora_alpha=float(lora_alpha))


def peft_parameter_names(model: nn.Module) -> list[str]:
    """The adapter and LoRA parameters' names, in model order (empty without any)."""
    prefixes = tuple(f"{n}." for n, m in model.named_modules() if isinstance(m, (Adapter, LoRA)))
    return [n for n, _ in model.named_parameters() if prefixes and n.startswith(prefixes)]


def save_peft(model: nn.Module, path: str | Path, with_head: bool = False) -> Path:
    """Writes the adapter/LoRA tensors alone to a safetensors file, atomically; the settings
    and the base architecture go into its metadata (``asrtl_peft``).

    Args:
        model: a model with adapters or LoRA.
        path: the file (e.g. ``adapters/bengali.safetensors``).
        with_head: also save the CTC head (MMS ships one per language with its adapters).

    Returns:
        The path written.

    Raises:
        ValueError: a model without adapters or LoRA.
    """
    names = peft_parameter_names(model)
    if not names:
        raise UserError("the model has no adapters or LoRA to save (add_peft first)")
    if with_head and getattr(model, "head", None) is None:
        raise UserError("with_head=True but the model has no CTC head")
    params = dict(model.named_parameters())
    state = {n: params[n].detach().cpu().contiguous() for n in names}
    if with_head:
        state.update({f"head.{k}": v.detach().cpu().contiguous()
                      for k, v in model.head.state_dict().items()})
    info = {"format_version": FORMAT_VERSION, "settings": peft_settings(model),
            "architecture": model.cfg.to_dict(), "with_head": with_head}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(state, str(tmp), metadata={META_KEY: json.dumps(info)})
    os.replace(tmp, path)
    return path


def load_peft(model: nn.Module, path: str | Path) -> None:
    """Loads a :func:`save_peft` file into ``model`` strictly, first adding the adapters/LoRA
    when the base model lacks them.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PEFT file, other adapter settings than the model's, or a base
            model of another architecture (naming the differing settings or tensor).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInput(f"no adapter file {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        info = json.loads(meta[META_KEY]) if META_KEY in meta else None
    except (SafetensorError, json.JSONDecodeError) as e:
        raise UserError(f"corrupt adapter file {path}: {e}") from None
    if info is None:
        raise UserError(f"{path} is not an adapter file of save_peft (no {META_KEY} metadata)")
    there = type(model.cfg).from_dict(info["architecture"])
    ignore = TRAINING_SETTINGS if not info["with_head"] else tuple(
        k for k in TRAINING_SETTINGS if k != "vocab_size")
    diff = there.differences(model.cfg, ignore=ignore)
    if diff:
        raise UserError(f"{path} was saved for another base model: {', '.join(diff)}")
    settings = info["settings"]
    if not has_peft(model):
        add_peft(model, **settings)
    elif _describe(peft_settings(model)) != _describe(settings):
        raise UserError(f"{path} holds {_describe(settings)}; the model has "
                        f"{_describe(peft_settings(model))}")
    state = load_file(str(path))
    params = model.state_dict(keep_vars=True)  # parameters and buffers (an attribute head's)
    expected = peft_parameter_names(model) + (
        [f"head.{k}" for k in model.head.state_dict()] if info["with_head"] else [])
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise UserError(f"{path} does not fit the model: missing {missing[:3]}, unexpected "
                        f"{unexpected[:3]} ({len(missing)} and {len(unexpected)} tensors)")
    for name in expected:
        if state[name].shape != params[name].shape:
            raise UserError(f"{path}: {name} is {tuple(state[name].shape)} there, "
                            f"{tuple(params[name].shape)} here")
    with torch.no_grad():
        for name in expected:
            params[name].copy_(state[name])


def _describe(settings: dict[str, Any]) -> str:
    """``adapter_dim=64, lora_rank=8, lora_alpha=16.0`` (alpha only with LoRA)."""
    text = f"adapter_dim={int(settings['adapter_dim'])}, lora_rank={int(settings['lora_rank'])}"
    return text + (f", lora_alpha={float(settings['lora_alpha'])}"
                   if settings["lora_rank"] else "")
