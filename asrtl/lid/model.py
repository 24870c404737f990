"""A frame-level language-ID network: fbank, SpeechBrain's x-vector TDNN, a per-frame head.

The reference study scores a source language by the LID posterior averaged over the target's
frames, so the classifier is frame-level (no pooling before the head): the average over
frames is then exact, and an utterance's score is the average over its own frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN, TDNNBlock
from speechbrain.lobes.models.Xvector import Xvector
from torch import nn

from asrtl.data.features import Fbank, FeatureConfig
from asrtl.errors import UserError
from asrtl.train.checkpoint import CheckpointMeta, load_weights, read_meta, resolve_checkpoint


@dataclass(frozen=True)
class LIDConfig:
    """Architecture of a :class:`LIDModel`, stored in its checkpoint's ``meta.json``.

    Attributes:
        languages: the classes, in output order.
        encoder: ``xvector`` (SpeechBrain's TDNN layers: each frame sees a window of about
            15 frames) or ``ecapa`` (SpeechBrain's ECAPA-TDNN up to its multi-layer
            aggregation: squeeze-excitation gives every frame the utterance's context).
        channels, kernel_sizes, dilations: the encoder's layers.
        features: fbank settings.
    """

    languages: tuple[str, ...]
    # the defaults are conf/lid.yaml's (tests/lid/test_score.py checks they agree)
    encoder: str = "ecapa"
    channels: tuple[int, ...] = (128, 128, 128, 128, 384)
    kernel_sizes: tuple[int, ...] = (5, 3, 3, 3, 1)
    dilations: tuple[int, ...] = (1, 2, 3, 4, 1)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    name: str = "lid-tdnn"

    def __post_init__(self) -> None:
        if len(self.languages) < 2:
            raise UserError(f"LID needs at least 2 languages, got {list(self.languages)}")
        if len(set(self.languages)) != len(self.languages):
            raise UserError(f"LID languages repeat: {list(self.languages)}")
        if self.encoder not in ENCODERS:
            raise UserError(f"unknown lid.encoder {self.encoder!r}; known: "
                            f"{', '.join(ENCODERS)}")
        if not len(self.channels) == len(self.kernel_sizes) == len(self.dilations):
            raise UserError("lid.model channels, kernel_sizes and dilations differ in length")

    @classmethod
    def from_dict(cls, d: Any) -> LIDConfig:
        d = dict(d)
        feats = FeatureConfig(**dict(d.pop("features", {})))
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()},
                   features=feats)

    def to_dict(self) -> dict:
        return asdict(self)


class XvectorFrames(nn.Module):
    """SpeechBrain's x-vector TDNN layers, before pooling: ``(B, T, F) -> (B, T, C)``."""

    def __init__(self, cfg: LIDConfig) -> None:
        super().__init__()
        xvector = Xvector(tdnn_blocks=len(cfg.channels), tdnn_channels=list(cfg.channels),
                          tdnn_kernel_sizes=list(cfg.kernel_sizes),
                          tdnn_dilations=list(cfg.dilations),
                          in_channels=cfg.features.num_mel_bins)
        self.layers = nn.ModuleList(xvector.blocks[:-2])
        self.out_dim = cfg.channels[-1]

    def forward(self, x: torch.Tensor, rel_lens: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class EcapaFrames(nn.Module):
    """SpeechBrain's ECAPA-TDNN up to its multi-layer feature aggregation (before the
    attentive pooling): ``(B, T, F) -> (B, T, C)``, padding masked by ``rel_lens``."""

    def __init__(self, cfg: LIDConfig) -> None:
        super().__init__()
        ecapa = ECAPA_TDNN(cfg.features.num_mel_bins, channels=list(cfg.channels),
                           kernel_sizes=list(cfg.kernel_sizes), dilations=list(cfg.dilations),
                           se_channels=min(128, cfg.channels[0] // 2))
        self.blocks, self.mfa = ecapa.blocks, ecapa.mfa
        self.out_dim = cfg.channels[-1]

    def forward(self, x: torch.Tensor, rel_lens: torch.Tensor) -> torch.Tensor:
        x, outs = x.transpose(1, 2), []
        for layer in self.blocks:
            x = layer(x) if isinstance(layer, TDNNBlock) else layer(x, lengths=rel_lens)
            outs.append(x)
        return self.mfa(torch.cat(outs[1:], dim=1)).transpose(1, 2)


ENCODERS: dict[str, type[nn.Module]] = {"xvector": XvectorFrames, "ecapa": EcapaFrames}


class LIDModel(nn.Module):
    """Waveforms ``(B, S)`` -> frame log-posteriors ``(B, T, L)`` over ``cfg.languages``."""

    def __init__(self, cfg: LIDConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.fbank = Fbank(cfg.features)
        self.encoder = ENCODERS[cfg.encoder](cfg)
        self.head = nn.Linear(self.encoder.out_dim, len(cfg.languages))

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor,
                augment: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            wavs: ``(B, S)`` samples, zero-padded; wav_lens: ``(B,)``.
            augment: applied to the features ``(B, T, F)`` (SpecAugment while training).

        Returns:
            ``(log_posteriors (B, T, L), frame_lens (B,))``.
        """
        x, lens = self.embed(wavs, wav_lens, augment)
        return self.head(x).log_softmax(-1), lens

    def embed(self, wavs: torch.Tensor, wav_lens: torch.Tensor,
              augment: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's frame embeddings before the head: ``((B, T, C), frame_lens (B,))``."""
        x, lens = self.fbank(wavs, wav_lens)
        if augment is not None:
            x = augment(x)
        return self.encoder(x, lens.float() / x.shape[1]), lens


def load_lid(path: str | Path) -> tuple[LIDModel, CheckpointMeta]:
    """A LID checkpoint (dir or run dir) on CPU, in eval mode, with its ``meta.json``.

    Raises:
        FileNotFoundError: nothing loadable at ``path``.
        ValueError: an acoustic-model checkpoint, or corrupt files.
    """
    ckpt = resolve_checkpoint(path)
    meta = read_meta(ckpt)
    arch = meta.architecture
    if arch.get("name") != LIDConfig.name:
        raise UserError(f"checkpoint {ckpt} is not a language-ID model "
                        f"(architecture {arch.get('name')!r})")
    model = LIDModel(LIDConfig.from_dict(arch))
    load_weights(model, ckpt)
    return model.eval(), meta
