"""The CTC acoustic model: ``frontend`` (4x subsampling) -> ``encoder.layers.N`` -> ``head``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from asrtl.data.features import FeatureConfig
from asrtl.errors import UserError
from asrtl.models.attributes import AttributeHead
from asrtl.models.encoder import SUBSAMPLING, Conv2dSubsampling, Encoder
from asrtl.models.featurizer import Featurizer
from asrtl.models.progressive import Column, Lateral
from asrtl.settings import checked_fields

SSL_ENCODERS = ("wav2vec2", "hubert", "wavlm")
FEATURIZERS = ("none", "last", "all", "fne")
HEADS = ("linear", "attributes")
# settings two models may differ in and still share every tensor's shape and meaning: the
# name, the vocabulary, the regularisation, and the modules a strategy adds (adapters, LoRA)
# a source without a featurizer may be read through one (strategy=features); a source with one
# must be read through the same (its head was trained on the downstream layers' output)
FEATURIZER_SETTINGS = ("featurizer", "downstream", "downstream_layers", "fne_discretize",
                       "columns")
TRAINING_SETTINGS = ("name", "vocab_size", "dropout", "layer_drop", "mask_time_prob",
                     "mask_time_length", "adapter_dim", "lora_rank", "lora_alpha",
                     *FEATURIZER_SETTINGS)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture, stored in ``meta.json``; a checkpoint rebuilds its model from it.

    The defaults are the ``small`` preset's (``conf/model/small.yaml``, the recipes' default;
    ``tests/test_configs.py`` keeps them equal).

    Attributes:
        name: preset name (``tiny``, ``small``, ``base``, ``xlsr_300m``...) or ``custom``.
        encoder: ``conformer`` or ``lstm`` (filterbank input), or ``wav2vec2``, ``hubert``,
            ``wavlm`` (raw waveform input, :mod:`asrtl.models.ssl`).
        dim, num_layers, heads, ffn_dim, conv_kernel, dropout: encoder settings.
        subsampling_channels: channels of the two subsampling convolutions.
        num_mel_bins: input feature dimension.
        vocab_size: output tokens, blank included (set from the vocabulary).
        extractor_mode, conv_layers, conv_bias, pos_conv_kernel, pos_conv_groups,
            layer_norm_first, layer_drop: the wav2vec 2.0 family's settings, as torchaudio's
            ``wav2vec2_model`` names them (``conv_layers``: ``(channels, kernel, stride)``).
        mask_time_prob, mask_time_length: wav2vec 2.0 fine-tuning's time masking (share of
            frames starting a masked span, span length in frames); training only.
        normalize_waveform: zero mean, unit variance per utterance before the encoder
            (XLS-R, MMS and the large models expect it).
        adapter_dim: bottleneck adapters of this width in every encoder layer (0: none).
        lora_rank, lora_alpha: LoRA on the attention projections (rank 0: none).
        head: ``linear`` (a free row per token), or ``attributes``: phone rows composed from
            their articulatory features (:mod:`asrtl.models.attributes`; ``units=phones``).
        featurizer: ``none``, or what a trainable ``downstream`` reads of the (frozen)
            encoder: ``last``, ``all`` (a weighted sum of every layer) or ``fne``
            (:mod:`asrtl.models.featurizer`; ``strategy=features``).
        downstream, downstream_layers: the layers on the featurizer (``conformer`` or
            ``lstm``), before the head.
        fne_discretize: ``fne``'s values to {-1, 0, 1}.
        columns: frozen source columns read through laterals (progressive networks,
            :mod:`asrtl.models.progressive`; ``strategy=progressive``); 0: none.
    """

    name: str = "small"
    encoder: str = "conformer"
    dim: int = 144
    num_layers: int = 8
    heads: int = 4
    ffn_dim: int = 576
    conv_kernel: int = 15
    dropout: float = 0.1
    subsampling_channels: int = 64
    num_mel_bins: int = 80
    vocab_size: int = 0
    extractor_mode: str = "group_norm"
    conv_layers: tuple[tuple[int, int, int], ...] = (
        (512, 10, 5), *((512, 3, 2),) * 4, *((512, 2, 2),) * 2)
    conv_bias: bool = False
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    layer_norm_first: bool = False
    layer_drop: float = 0.0
    mask_time_prob: float = 0.0
    mask_time_length: int = 10
    normalize_waveform: bool = True
    adapter_dim: int = 0
    lora_rank: int = 0
    lora_alpha: float = 16.0
    head: str = "linear"
    featurizer: str = "none"
    downstream: str = "conformer"
    downstream_layers: int = 2
    fne_discretize: bool = False
    columns: int = 0

    def __post_init__(self) -> None:  # JSON and YAML give lists: compare as tuples
        object.__setattr__(self, "conv_layers", tuple(tuple(int(v) for v in c)
                                                      for c in self.conv_layers))
        if self.head not in HEADS:
            raise UserError(f"model.head: {self.head!r} is not one of {list(HEADS)}")
        if self.head != "linear" and self.raw_waveform:
            raise UserError(f"model.head={self.head} is for the fbank encoders (conformer, "
                            f"lstm), not {self.encoder}")
        if self.featurizer not in FEATURIZERS:
            raise UserError(f"model.featurizer must be one of {list(FEATURIZERS)}, got "
                            f"{self.featurizer!r}")
        if self.featurizer != "none" and self.raw_waveform:
            raise UserError(f"model.featurizer={self.featurizer} is for the fbank encoders "
                            f"(conformer, lstm) so far, not {self.encoder}")
        if self.columns < 0 or self.columns and (self.raw_waveform or self.featurizer != "none"):
            raise UserError(f"model.columns must be >= 0, for the fbank encoders without a "
                            f"featurizer, got {self.columns} ({self.encoder}, featurizer "
                            f"{self.featurizer})")
        if self.featurizer != "none" and self.downstream_layers < 0:
            raise UserError(f"model.downstream_layers must be >= 0, got "
                            f"{self.downstream_layers}")

    @property
    def raw_waveform(self) -> bool:
        """Whether the encoder reads samples (the wav2vec 2.0 family) rather than fbank."""
        return self.encoder in SSL_ENCODERS

    @property
    def samples_per_frame(self) -> int:
        """Input samples (16 kHz) per output frame: for fbank models the default features'
        hop times :data:`asrtl.models.encoder.SUBSAMPLING` (160 x 4 = 640), for raw-waveform
        ones the product of the convolution strides (320)."""
        if not self.raw_waveform:
            return SUBSAMPLING * FeatureConfig().hop
        stride = 1
        for _, _, s in self.conv_layers:
            stride *= s
        return stride

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Builds from a (config or meta.json) mapping.

        Raises:
            ValueError: an unknown key or a value of the wrong type, naming ``model.<key>``.
        """
        return cls(**checked_fields(cls, d, "model"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def differences(self, other: ModelConfig, ignore: tuple[str, ...] = ()) -> list[str]:
        """Settings that differ, as ``"dim=96 there vs 144 here"`` (self = there)."""
        return [f"{k}={v!r} there vs {getattr(other, k)!r} here"
                for k, v in self.to_dict().items() if k not in ignore and getattr(other, k) != v]


class CTCModel(nn.Module):
    """Features ``(B, T, F)`` -> CTC log-probabilities ``(B, T/4, V)``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size < 4:
            raise UserError(f"model.vocab_size must be >= 4, got {cfg.vocab_size}")
        self.cfg = cfg
        self.frontend = Conv2dSubsampling(cfg.num_mel_bins, cfg.dim, cfg.subsampling_channels)
        self.encoder = Encoder(cfg.encoder, cfg.dim, cfg.num_layers, cfg.heads, cfg.ffn_dim,
                               cfg.conv_kernel, cfg.dropout)
        if cfg.featurizer != "none":
            self.featurizer = Featurizer(cfg.featurizer, cfg.num_layers + 1, cfg.dim,
                                         cfg.fne_discretize)
            self.downstream = Encoder(cfg.downstream, cfg.dim, cfg.downstream_layers, cfg.heads,
                                      cfg.ffn_dim, cfg.conv_kernel, cfg.dropout)
        if cfg.columns:  # frozen source columns, and a lateral from each into each layer
            self.columns = nn.ModuleList(
                Column(Conv2dSubsampling(cfg.num_mel_bins, cfg.dim, cfg.subsampling_channels),
                       Encoder(cfg.encoder, cfg.dim, cfg.num_layers, cfg.heads, cfg.ffn_dim,
                               cfg.conv_kernel, cfg.dropout)) for _ in range(cfg.columns))
            self.columns.requires_grad_(False)
            self.laterals = nn.ModuleList(nn.ModuleList(Lateral(cfg.dim)
                                                        for _ in range(cfg.columns))
                                          for _ in range(cfg.num_layers))
        self.head = (AttributeHead(cfg.dim, cfg.vocab_size) if cfg.head == "attributes"
                     else nn.Linear(cfg.dim, cfg.vocab_size))

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                              torch.Tensor]:
        """Args:
            feats: ``(B, T, F)`` features.
            feat_lens: ``(B,)`` valid frames.

        Returns:
            ``(log_probs (B, T', V), out_lens (B,))``.
        """
        x, lens = self.encode(feats, feat_lens)
        return self.head(x).log_softmax(dim=-1), lens

    def encode(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
        """The encoder's output before the head: ``(hidden (B, T', D), out_lens (B,))`` (with a
        featurizer: the downstream layers' output on the featurizer's)."""
        x, lens = self.frontend(feats, feat_lens)
        if self.cfg.columns:
            with torch.no_grad():  # the columns never train
                cols = [c.states(feats, feat_lens) for c in self.columns]

            def lateral(i: int, h: torch.Tensor) -> torch.Tensor:
                return h + sum(lat(cols[k][i]) for k, lat in enumerate(self.laterals[i]))

            return self.encoder.states(x, lens, keep=False, inject=lateral)[-1], lens
        if self.cfg.featurizer == "none":
            return self.encoder(x, lens), lens
        return self.downstream(self.featurizer(self.encoder.states(x, lens)), lens), lens

    def layer_names(self) -> list[str]:
        """The copyable units, input to output: ``frontend``, ``encoder.layers.N``, (with a
        featurizer: ``featurizer``, ``downstream.layers.N``,) ``head``."""
        extra = [] if self.cfg.featurizer == "none" else [
            "featurizer", *(f"downstream.layers.{i}" for i in range(len(self.downstream.layers)))]
        if self.cfg.columns:
            extra = ["laterals"]
        return ["frontend", *(f"encoder.layers.{i}" for i in range(len(self.encoder.layers))),
                *extra, "head"]


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
