"""Encoder pieces: 4x convolutional subsampling and a stack of named layers
(``encoder.layers.N``), either torchaudio Conformer layers or bidirectional LSTMs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchaudio.models.conformer import ConformerLayer

from asrtl.errors import UserError

SUBSAMPLING = 4  # feature frames per output frame of :class:`Conv2dSubsampling`


class Conv2dSubsampling(nn.Module):
    """Two stride-2 3x3 convolutions: ``(B, T, F)`` -> ``(B, T', dim)`` with T' ~ T/4."""

    def __init__(self, num_mel_bins: int, dim: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, channels, 3, stride=2), nn.ReLU(),
                                  nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU())
        freq = ((num_mel_bins - 3) // 2 + 1 - 3) // 2 + 1
        self.out = nn.Linear(channels * freq, dim)

    @staticmethod
    def output_lengths(lens: torch.Tensor) -> torch.Tensor:
        """Frames after subsampling for ``lens`` input frames ``(B,)``."""
        return ((lens - 3) // 2 + 1 - 3) // 2 + 1

    def forward(self, feats: torch.Tensor, feat_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                              torch.Tensor]:
        if feats.shape[1] < 7:  # the two convolutions need 7 frames
            feats = nn.functional.pad(feats, (0, 0, 0, 7 - feats.shape[1]))
        x = self.conv(feats.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))
        return x, self.output_lengths(feat_lens).clamp(min=1, max=t)


class MaskedConformerLayer(ConformerLayer):
    """torchaudio's Conformer layer with padded frames zeroed right before the depthwise
    convolution (as ESPnet does): otherwise padding leaks into the last valid frames and an
    utterance's output depends on the other utterances of its batch. Same parameter names."""

    def forward(self, input: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
        self._pad_mask = key_padding_mask
        return super().forward(input, key_padding_mask)

    def _apply_convolution(self, input: torch.Tensor) -> torch.Tensor:
        """torchaudio's convolution module, ``(T, B, D)`` -> ``(T, B, D)``, masked."""
        conv = self.conv_module
        x = conv.layer_norm(input.transpose(0, 1)).transpose(1, 2)  # (B, D, T)
        x = conv.sequential[1](conv.sequential[0](x))  # pointwise conv + GLU
        mask = getattr(self, "_pad_mask", None)
        if mask is not None:
            x = x.masked_fill(mask.unsqueeze(1), 0.0)
        for module in conv.sequential[2:]:  # depthwise conv, norm, SiLU, pointwise, dropout
            x = module(x)
        return input + x.permute(2, 0, 1)


class LSTMLayer(nn.Module):
    """One bidirectional LSTM layer with a residual connection and layer norm."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim // 2, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(x, lens.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.norm(x + self.dropout(y))


class Encoder(nn.Module):
    """A stack of ``num_layers`` layers of one kind, addressable as ``layers.N``.

    Args:
        kind: ``conformer`` or ``lstm``.
        dim: model width.
        num_layers: depth.
        heads, ffn_dim, conv_kernel: Conformer settings.
        dropout: dropout inside each layer.
    """

    def __init__(self, kind: str, dim: int, num_layers: int, heads: int, ffn_dim: int,
                 conv_kernel: int, dropout: float) -> None:
        super().__init__()
        if kind == "conformer":
            layers = [MaskedConformerLayer(dim, ffn_dim, heads, conv_kernel, dropout=dropout)
                      for _ in range(num_layers)]
        elif kind == "lstm":
            layers = [LSTMLayer(dim, dropout) for _ in range(num_layers)]
        else:
            raise UserError(f"model.encoder must be conformer or lstm, got {kind!r}")
        self.kind = kind
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` with valid lengths ``(B,)`` -> ``(B, T, D)``."""
        return self.states(x, lens, keep=False)[-1]

    def states(self, x: torch.Tensor, lens: torch.Tensor, keep: bool = True,
               inject: Callable[[int, torch.Tensor], torch.Tensor] | None = None
               ) -> list[torch.Tensor]:
        """The input and every layer's output, ``num_layers + 1`` tensors ``(B, T, D)``
        (``keep=False``: the last one only, nothing else held). ``inject(i, x)``, when given,
        replaces layer ``i``'s input ``x`` (``(B, T, D)``; progressive laterals)."""
        out = [x]
        if self.kind == "conformer":
            pad_mask = torch.arange(x.shape[1], device=x.device)[None, :] >= lens[:, None]
            for i, layer in enumerate(self.layers):
                if inject is not None:
                    x = inject(i, x)
                # torchaudio's layers are time-first
                x = layer(x.transpose(0, 1), pad_mask).transpose(0, 1)
                out = [*out, x] if keep else [x]
            return out
        for i, layer in enumerate(self.layers):
            if inject is not None:
                x = inject(i, x)
            x = layer(x, lens)
            out = [*out, x] if keep else [x]
        return out
