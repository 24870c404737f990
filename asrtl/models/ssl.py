"""The wav2vec 2.0 family (wav2vec 2.0, XLS-R, MMS, HuBERT, WavLM) as a CTC model.

torchaudio's model builders make the encoder; its blocks keep torchaudio's names under
``encoder``, so a torchaudio, Hugging Face or fairseq checkpoint converts to ours by renaming
(:mod:`asrtl.models.ssl_weights`). The copyable units, input to output:

    encoder.feature_extractor          the convolutional waveform encoder (stride 320)
    encoder.feature_projection         layer norm + linear to the model width
    encoder.transformer.pos_conv_embed convolutional relative position embedding
    encoder.transformer.layer_norm
    encoder.transformer.layers.N
    head                               linear CTC head over our graphemes

Input: raw 16 kHz waveforms ``(B, S)``; output: ``(B, S/320, V)`` CTC log-probabilities.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from asrtl.errors import UserError
from asrtl.models.ctc import ModelConfig


def build_encoder(cfg: ModelConfig) -> nn.Module:
    """torchaudio's ``Wav2Vec2Model`` for ``cfg`` (``aux`` head off), re-homed as one
    module holding ``feature_extractor``, ``feature_projection`` and ``transformer``."""
    common = dict(
        extractor_mode=cfg.extractor_mode,
        extractor_conv_layer_config=[list(c) for c in cfg.conv_layers],
        extractor_conv_bias=cfg.conv_bias, encoder_embed_dim=cfg.dim,
        encoder_projection_dropout=cfg.dropout, encoder_pos_conv_kernel=cfg.pos_conv_kernel,
        encoder_pos_conv_groups=cfg.pos_conv_groups, encoder_num_layers=cfg.num_layers,
        encoder_num_heads=cfg.heads, encoder_attention_dropout=cfg.dropout,
        encoder_ff_interm_features=cfg.ffn_dim, encoder_ff_interm_dropout=cfg.dropout,
        encoder_dropout=cfg.dropout, encoder_layer_norm_first=cfg.layer_norm_first,
        encoder_layer_drop=cfg.layer_drop, aux_num_out=None)
    if cfg.encoder == "wavlm":
        ta = torchaudio.models.wavlm_model(encoder_num_buckets=320, encoder_max_distance=800,
                                           **common)
    else:  # wav2vec2 and hubert share the architecture (they differ in pretraining)
        ta = torchaudio.models.wav2vec2_model(**common)
    encoder = ta.encoder  # feature_projection, transformer
    encoder.feature_extractor = ta.feature_extractor
    return encoder


def time_mask(x: torch.Tensor, lens: torch.Tensor, prob: float, length: int,
              embedding: torch.Tensor) -> torch.Tensor:
    """wav2vec 2.0 fine-tuning's time masking: each valid frame starts a masked span of
    ``length`` frames with probability ``prob``; masked frames take ``embedding``.

    Args:
        x: ``(B, T, D)`` projected features.
        lens: ``(B,)`` valid frames.
        embedding: ``(D,)`` the learned mask vector.
    """
    b, t, _ = x.shape
    valid = torch.arange(t, device=x.device)[None, :] < lens[:, None]
    starts = (torch.rand(b, t, device=x.device) < prob) & valid
    padded = nn.functional.pad(starts.float().unsqueeze(1), (length - 1, 0))  # (B, 1, T+L-1)
    spans = nn.functional.max_pool1d(padded, length, stride=1)[:, 0]  # (B, T): a start <= L back
    mask = (spans > 0) & valid
    return torch.where(mask.unsqueeze(-1), embedding.to(x.dtype), x)


class Wav2Vec2CTC(nn.Module):
    """Waveforms ``(B, S)`` -> CTC log-probabilities ``(B, T, V)``, T ~ S / 320.

    With ``cfg.vocab_size == 0`` the model has no head (a pretrained encoder as a transfer
    source).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.vocab_size and cfg.vocab_size < 4:
            raise UserError(f"model.vocab_size must be >= 4, got {cfg.vocab_size}")
        self.cfg = cfg
        self.encoder = build_encoder(cfg)
        # fairseq's mask_emb / Hugging Face's masked_spec_embed, kept with the projection
        self.encoder.feature_projection.mask_embedding = nn.Parameter(
            torch.empty(cfg.dim).uniform_())
        self.head = nn.Linear(cfg.dim, cfg.vocab_size) if cfg.vocab_size else None

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        """Args:
            wavs: ``(B, S)`` samples (normalised by :class:`Waveform`).
            wav_lens: ``(B,)`` valid samples.

        Returns:
            ``(log_probs (B, T, V), out_lens (B,))``.
        """
        if self.head is None:
            raise UserError("this wav2vec 2.0 model has no CTC head (a pretrained encoder "
                            "only): transfer it to a language first")
        x, lens = self.encode(wavs, wav_lens)
        return self.head(x).log_softmax(dim=-1), lens

    def encode(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
        """The transformer's output: ``(hidden (B, T, D), out_lens (B,))``."""
        enc = self.encoder
        min_len = self.min_samples()
        if wavs.shape[1] < min_len:
            wavs = nn.functional.pad(wavs, (0, min_len - wavs.shape[1]))
        feats, lens = enc.feature_extractor(wavs, wav_lens.clamp(min=min_len))
        x = enc.feature_projection(feats)  # (B, T, D)
        lens = lens.clamp(min=1, max=x.shape[1]).to(torch.long)
        if self.training and self.cfg.mask_time_prob > 0:
            x = time_mask(x, lens, self.cfg.mask_time_prob, self.cfg.mask_time_length,
                          enc.feature_projection.mask_embedding)
        pad = torch.arange(x.shape[1], device=x.device)[None, :] >= lens[:, None]  # (B, T)
        x = x.masked_fill(pad.unsqueeze(-1), 0.0)
        attn = (-10000.0 * pad[:, None, None, :].to(x.dtype)).expand(
            x.shape[0], 1, x.shape[1], x.shape[1])
        return enc.transformer(x, attention_mask=attn), lens

    def min_samples(self) -> int:
        """The shortest input that gives one output frame."""
        n = 1
        for _, kernel, stride in reversed(self.cfg.conv_layers):
            n = (n - 1) * stride + kernel
        return n

    def layer_names(self) -> list[str]:
        """The copyable units, input to output (see the module docstring)."""
        names = ["encoder.feature_extractor", "encoder.feature_projection",
                 "encoder.transformer.pos_conv_embed", "encoder.transformer.layer_norm",
                 *(f"encoder.transformer.layers.{i}"
                   for i in range(len(self.encoder.transformer.layers)))]
        return names + (["head"] if self.head is not None else [])


class Waveform(nn.Module):
    """The input transform of raw-waveform models: ``(wavs (B, S), wav_lens (B,))`` ->
    the same, each utterance scaled to zero mean and unit variance over its valid samples
    when ``normalize`` (padding stays zero)."""

    sample_rate = 16000

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
        wavs = wavs.float()
        if not self.normalize:
            return wavs, wav_lens
        valid = (torch.arange(wavs.shape[1], device=wavs.device)[None, :]
                 < wav_lens[:, None]).to(wavs.dtype)
        n = wav_lens.clamp(min=1)[:, None].to(wavs.dtype)
        mean = (wavs * valid).sum(1, keepdim=True) / n
        var = (((wavs - mean) * valid) ** 2).sum(1, keepdim=True) / n
        return (wavs - mean) / (var + 1e-7).sqrt() * valid, wav_lens
