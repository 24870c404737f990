"""Pretrained wav2vec 2.0 / XLS-R / MMS / HuBERT / WavLM weights from files a user downloaded,
converted to :class:`asrtl.models.ssl.Wav2Vec2CTC`'s names. Nothing is downloaded here.

Formats (:func:`load_ssl_encoder` tells them apart):

- a torchaudio pipeline weight file (``.pth``: the state dict behind
  ``torchaudio.pipelines.WAV2VEC2_XLSR_300M`` and friends, torchaudio's names);
- a Hugging Face model directory (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``: ``Wav2Vec2Model``/``Wav2Vec2ForCTC``, HuBERT, WavLM);
- a fairseq checkpoint (``.pt`` with ``cfg`` and ``model``: XLS-R, MMS pretrained or
  fine-tuned). fairseq stores its config as pickled objects: such a file loads only with
  ``allow_pickle=True`` (``source_allow_pickle=true``), for files one trusts.

Tensors are read with safetensors or ``torch.load(weights_only=True)`` otherwise.
"""

from __future__ import annotations

import ast
import json
import logging
import pickle
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torchaudio.models.wav2vec2.utils.import_fairseq import _map_key as fairseq_to_torchaudio
from torchaudio.models.wav2vec2.utils.import_huggingface import transform_wavlm_encoder_state

from asrtl.errors import MissingInput, UserError
from asrtl.models.ctc import ModelConfig
from asrtl.models.ssl import Wav2Vec2CTC

log = logging.getLogger(__name__)

# the settings that make two encoders the same architecture (dropouts and masking aside)
ARCHITECTURE = ("extractor_mode", "conv_layers", "conv_bias", "dim", "num_layers", "heads",
                "ffn_dim", "pos_conv_kernel", "pos_conv_groups", "layer_norm_first")
HF_PREFIXES = ("wav2vec2.", "hubert.", "wavlm.", "data2vec_audio.")
WHERE = ("download it (e.g. the Hugging Face repository facebook/wav2vec2-xls-r-300m, or "
         "torchaudio's pipeline file) on a machine with internet and give its local path")


def is_ssl_weights(path: str | Path) -> bool:
    """Whether ``path`` is external encoder weights rather than an asrtl checkpoint or run
    (those hold ``meta.json`` or ``checkpoints/``)."""
    p = Path(path)
    if p.is_dir():
        return (p / "config.json").is_file() and not (p / "meta.json").is_file()
    return p.suffix in (".pt", ".pth", ".bin", ".safetensors", ".ckpt")


def load_ssl_encoder(path: str | Path, preset: ModelConfig, allow_pickle: bool = False
                     ) -> tuple[Wav2Vec2CTC, dict[str, Any]]:
    """Builds ``preset``'s encoder (no head) and loads the weights at ``path`` into it.

    Args:
        path: a torchaudio ``.pth``, a Hugging Face directory or a fairseq ``.pt``.
        preset: the ``model=`` preset the weights must fit (a wav2vec 2.0 family encoder).
        allow_pickle: allow files that need pickle (fairseq's config objects).

    Returns:
        ``(model, meta)``: meta names the format, the file, and what was left out (a
        pretrained CTC head, quantiser...).

    Raises:
        FileNotFoundError: no such file, or a directory without ``config.json``/weights.
        ValueError: a truncated file, a format it does not know, weights of another
            architecture than ``preset``, or a pickled file without ``allow_pickle``.
    """
    p = Path(path)
    if not preset.raw_waveform:
        raise UserError(f"source_checkpoint {p} holds wav2vec 2.0-family weights but "
                        f"model={preset.name} is a {preset.encoder}: choose a wav2vec 2.0 "
                        f"preset (model=xlsr_300m, wav2vec2_base, hubert_base, wavlm_base...)")
    if not p.exists():
        raise MissingInput(f"source_checkpoint {p} does not exist: {WHERE}")
    if p.is_dir():
        fmt, state, found = _read_huggingface(p)
    else:
        raw = _read_tensors(p, allow_pickle)
        if isinstance(raw, dict) and "model" in raw and ("cfg" in raw or "args" in raw):
            fmt, state, found = "fairseq", *_from_fairseq(raw)
        elif isinstance(raw, dict) and any(k.startswith(HF_PREFIXES) for k in raw):
            fmt, state, found = "huggingface", _from_huggingface(raw, preset), None
        elif isinstance(raw, dict) and any(k.startswith("feature_extractor.") for k in raw):
            fmt, state, found = "torchaudio", raw, None
        else:
            raise UserError(f"source_checkpoint {p}: not a torchaudio, Hugging Face or "
                            f"fairseq wav2vec 2.0 checkpoint (no feature_extractor weights)")
    if found is not None:
        diff = [f"{k}={getattr(found, k)!r} there vs {getattr(preset, k)!r} in "
                f"model={preset.name}" for k in ARCHITECTURE
                if getattr(found, k) != getattr(preset, k)]
        if diff:
            raise UserError(f"source_checkpoint {p} is another architecture than the "
                            f"preset: {', '.join(diff)} (choose the matching model=...)")
    model = Wav2Vec2CTC(replace(preset, vocab_size=0, adapter_dim=0, lora_rank=0))
    dropped = _load_into(model, _to_ours(state), p)
    log.info("loaded %s weights %s into model=%s (%s left out)", fmt, p, preset.name,
             ", ".join(dropped) or "nothing")
    return model, {"format": fmt, "path": str(p), "dropped": dropped,
                   "language": "", "kind": "ssl"}


def _read_tensors(p: Path, allow_pickle: bool) -> Any:
    """A weight file's content: safetensors, else ``torch.load`` (weights only unless
    ``allow_pickle``)."""
    try:
        if p.suffix == ".safetensors":
            return load_file(str(p))
        return torch.load(p, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError:
        raise UserError(f"source_checkpoint {p} needs pickle to load (fairseq stores its "
                        f"config as Python objects): if you trust the file, add "
                        f"source_allow_pickle=true") from None
    except (SafetensorError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).splitlines()[0].split(". ")[0] if str(e) else type(e).__name__
        raise UserError(f"source_checkpoint {p} is truncated or corrupt ({first[:100]}): "
                        f"download it again") from None


def _read_huggingface(d: Path) -> tuple[str, dict[str, torch.Tensor], ModelConfig]:
    """A Hugging Face model directory: its architecture from ``config.json``, its tensors
    from ``model.safetensors`` (preferred) or ``pytorch_model.bin`` (weights only)."""
    if not (d / "config.json").is_file():
        raise MissingInput(f"Hugging Face model directory {d} has no config.json: "
                           f"download the whole repository, not only the weights")
    try:
        hf = json.loads((d / "config.json").read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{d / 'config.json'} is not JSON: {e.msg}") from None
    files = [d / "model.safetensors", d / "pytorch_model.bin"]
    weights = next((f for f in files if f.is_file()), None)
    if weights is None:
        raise MissingInput(f"Hugging Face model directory {d} has no model.safetensors "
                           f"or pytorch_model.bin")
    found = config_from_huggingface(hf)
    return "huggingface", _from_huggingface(_read_tensors(weights, False), found), found


def config_from_huggingface(hf: dict[str, Any]) -> ModelConfig:
    """Our architecture settings from a Hugging Face ``config.json``."""
    try:
        kind = {"wav2vec2": "wav2vec2", "hubert": "hubert", "wavlm": "wavlm"}[
            str(hf.get("model_type", "wav2vec2"))]
        return ModelConfig(
            name="huggingface", encoder=kind, extractor_mode=f"{hf['feat_extract_norm']}_norm",
            conv_layers=tuple(zip(hf["conv_dim"], hf["conv_kernel"], hf["conv_stride"],
                                  strict=True)),
            conv_bias=bool(hf.get("conv_bias", False)), dim=int(hf["hidden_size"]),
            num_layers=int(hf["num_hidden_layers"]), heads=int(hf["num_attention_heads"]),
            ffn_dim=int(hf["intermediate_size"]),
            pos_conv_kernel=int(hf["num_conv_pos_embeddings"]),
            pos_conv_groups=int(hf["num_conv_pos_embedding_groups"]),
            layer_norm_first=bool(hf.get("do_stable_layer_norm", False)))
    except KeyError as e:
        raise UserError(f"Hugging Face config.json lacks {e.args[0]!r} (model_type "
                        f"{hf.get('model_type')!r}): not a wav2vec 2.0-family model") from None


def _from_huggingface(state: dict[str, torch.Tensor], cfg: ModelConfig
                      ) -> dict[str, torch.Tensor]:
    """Hugging Face names -> torchaudio's (``lm_head`` kept as ``aux``, dropped later)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        k = next((key[len(p):] for p in HF_PREFIXES if key.startswith(p)), key)
        if k.startswith("lm_head."):
            k = "aux." + k.removeprefix("lm_head.")
        elif k == "masked_spec_embed":
            k = "encoder.feature_projection.mask_embedding"
        elif k.startswith("feature_projection."):
            k = "encoder." + k
        elif k.startswith("encoder."):
            k = "encoder.transformer." + k.removeprefix("encoder.")
        out[k] = value
    if cfg.encoder == "wavlm":
        prefix = "encoder.transformer."
        sub = {k.removeprefix(prefix): v for k, v in out.items() if k.startswith(prefix)}
        transform_wavlm_encoder_state(sub, cfg.num_layers)
        out = {k: v for k, v in out.items() if not k.startswith(prefix)}
        out.update({prefix + k: v for k, v in sub.items()})
    return out


def _from_fairseq(raw: dict[str, Any]) -> tuple[dict[str, torch.Tensor], ModelConfig]:
    """A fairseq checkpoint -> torchaudio names, and its architecture (a fine-tuned one's
    from its ``w2v_args``)."""
    cfg = raw.get("cfg") or {"model": vars(raw["args"])}
    model_cfg = dict(cfg["model"])
    inner = model_cfg.get("w2v_args")
    if inner:  # a fine-tuned checkpoint: the encoder's settings are the pretrained model's
        model_cfg = dict(inner["model"] if "model" in inner else inner)
    state: dict[str, torch.Tensor] = {}
    for key, value in raw["model"].items():
        k = key.removeprefix("w2v_encoder.")
        if k in ("mask_emb", "w2v_model.mask_emb"):
            state["encoder.feature_projection.mask_embedding"] = value
            continue
        try:
            mapped = fairseq_to_torchaudio(k)
        except ValueError:
            mapped = "dropped." + k  # quantiser, target projections, label embeddings
        state[mapped if mapped is not None else "dropped." + k] = value
    layers = model_cfg.get("conv_feature_layers", str(list(ModelConfig().conv_layers)))
    found = ModelConfig(
        name="fairseq", encoder="hubert" if "hubert" in str(model_cfg.get("_name")) else
        "wav2vec2",
        extractor_mode="layer_norm" if model_cfg.get("extractor_mode") == "layer_norm"
        else "group_norm",
        conv_layers=tuple(conv_spec(layers) if isinstance(layers, str) else layers),
        conv_bias=bool(model_cfg.get("conv_bias", False)),
        dim=int(model_cfg.get("encoder_embed_dim", 768)),
        num_layers=int(model_cfg.get("encoder_layers", 12)),
        heads=int(model_cfg.get("encoder_attention_heads", 12)),
        ffn_dim=int(model_cfg.get("encoder_ffn_embed_dim", 3072)),
        pos_conv_kernel=int(model_cfg.get("conv_pos", 128)),
        pos_conv_groups=int(model_cfg.get("conv_pos_groups", 16)),
        layer_norm_first=bool(model_cfg.get("layer_norm_first", False)))
    return state, found


def _to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchaudio's names -> :class:`Wav2Vec2CTC`'s (the feature extractor moves under
    ``encoder``); ``aux`` (a pretrained CTC head) and the rest of pretraining stay out."""
    out = {}
    for k, v in state.items():
        if k.startswith("feature_extractor."):
            out["encoder." + k] = v
        elif k.startswith(("encoder.", "dropped.")):
            out[k] = v
        else:
            out["dropped." + k] = v
    return out


def _load_into(model: Wav2Vec2CTC, state: dict[str, torch.Tensor], p: Path) -> list[str]:
    """Loads what fits, strictly for every encoder tensor; returns the prefixes left out.

    Raises:
        ValueError: a missing encoder tensor or a shape that differs (naming it).
    """
    dropped = sorted({re.sub(r"^dropped\.([^.]+).*", r"\1", k) for k in state
                      if k.startswith("dropped.")})
    kept = {k: v for k, v in state.items() if not k.startswith("dropped.")}
    target = model.state_dict()
    for k, v in kept.items():
        if k in target and target[k].shape != v.shape:
            raise UserError(f"source_checkpoint {p}: {k} has shape {tuple(v.shape)}, "
                            f"model={model.cfg.name} needs {tuple(target[k].shape)} (another "
                            f"architecture: choose the matching model=...)")
    result = model.load_state_dict(kept, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("mask_embedding")]
    if missing:
        raise UserError(f"source_checkpoint {p} lacks {len(missing)} tensor(s) of "
                        f"model={model.cfg.name}, e.g. {missing[0]} (another architecture, "
                        f"or a truncated file)")
    if result.unexpected_keys:
        raise UserError(f"source_checkpoint {p} has tensors model={model.cfg.name} does not, "
                        f"e.g. {result.unexpected_keys[0]} (another architecture: choose "
                        f"the matching model=...)")
    return dropped


def to_torchaudio(model: Wav2Vec2CTC) -> dict[str, torch.Tensor]:
    """The encoder's tensors under torchaudio's ``Wav2Vec2Model`` names (what
    :func:`load_ssl_encoder` reads back as a torchaudio pipeline file); the head stays out."""
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("head.") or k.endswith("mask_embedding"):
            continue
        out[k.removeprefix("encoder.") if k.startswith("encoder.feature_extractor.") else k] = v
    return out


def conv_spec(text: str) -> list:
    """fairseq's ``conv_feature_layers`` (``"[(512, 10, 5)] + [(512, 3, 2)] * 4 + ..."``), read
    without ``eval``: list and tuple literals of integers joined by ``+`` and ``*``.

    Raises:
        ValueError: anything else, named.
    """
    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise UserError(f"conv_feature_layers: cannot read {ast.unparse(node)!r} in {text!r}")

    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise UserError(f"conv_feature_layers: not a list of layers: {text!r}") from None
    layers = value(tree.body)
    if not isinstance(layers, list):
        raise UserError(f"conv_feature_layers: not a list of layers: {text!r}")
    return layers
