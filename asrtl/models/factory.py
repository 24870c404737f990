"""One place that turns a :class:`ModelConfig` into a model and its input transform."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from asrtl.data.features import Fbank, FeatureConfig
from asrtl.models.ctc import CTCModel, ModelConfig
from asrtl.models.peft import add_peft
from asrtl.models.ssl import Wav2Vec2CTC, Waveform


def build_model(cfg: ModelConfig) -> nn.Module:
    """The CTC model of ``cfg``: :class:`CTCModel` (fbank encoders) or :class:`Wav2Vec2CTC`
    (the wav2vec 2.0 family), with adapters or LoRA when ``cfg`` asks for them."""
    base = replace(cfg, adapter_dim=0, lora_rank=0)
    model = Wav2Vec2CTC(base) if cfg.raw_waveform else CTCModel(base)
    if cfg.adapter_dim or cfg.lora_rank:
        add_peft(model, adapter_dim=cfg.adapter_dim, lora_rank=cfg.lora_rank,
                 lora_alpha=cfg.lora_alpha)
    return model


def input_transform(cfg: ModelConfig, features: dict | None = None) -> nn.Module:
    """What turns waveforms ``(B, S)`` into the model's input ``(B, T, F)`` or ``(B, S)``.

    Args:
        features: a checkpoint's ``meta.json`` ``features`` (fbank settings), if any.
    """
    if cfg.raw_waveform:
        return Waveform(cfg.normalize_waveform)
    known = set(FeatureConfig.__dataclass_fields__)
    given = {k: v for k, v in (features or {}).items() if k in known}
    return Fbank(FeatureConfig(**{"num_mel_bins": cfg.num_mel_bins, **given}))


def features_meta(cfg: ModelConfig) -> dict:
    """The ``features`` entry of a checkpoint's ``meta.json``."""
    if cfg.raw_waveform:
        return {"kind": "waveform", "sample_rate": Waveform.sample_rate,
                "normalize": cfg.normalize_waveform}
    return FeatureConfig(num_mel_bins=cfg.num_mel_bins).to_dict()
