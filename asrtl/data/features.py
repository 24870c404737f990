"""Log-mel filterbank features computed in batch on the model's device, CMVN, SpecAugment."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio
from torch import nn

from asrtl.errors import UserError


@dataclass(frozen=True)
class FeatureConfig:
    """Feature settings, stored in every checkpoint's ``meta.json``.

    Attributes:
        num_mel_bins: filterbank channels.
        frame_length_ms, frame_shift_ms: analysis window and hop.
        cmvn: ``utterance`` (mean/variance over each utterance's frames) or ``none``.
        sample_rate: expected input rate.
    """

    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    cmvn: str = "utterance"
    sample_rate: int = 16000

    @property
    def hop(self) -> int:
        """Samples between two frames."""
        return int(self.sample_rate * self.frame_shift_ms / 1000)

    def to_dict(self) -> dict:
        return asdict(self)


class Fbank(nn.Module):
    """Waveforms ``(B, S)`` -> log-mel features ``(B, T, F)`` with ``feat_lens`` ``(B,)``."""

    def __init__(self, cfg: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        if cfg.cmvn not in ("utterance", "none"):
            raise UserError(f"features.cmvn must be utterance or none, got {cfg.cmvn!r}")
        self.cfg = cfg
        self.hop = cfg.hop
        win = int(cfg.sample_rate * cfg.frame_length_ms / 1000)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=cfg.sample_rate, n_fft=512, win_length=win, hop_length=self.hop,
            n_mels=cfg.num_mel_bins, center=False)

    def forward(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
        """Args:
            wavs: ``(B, S)`` float samples, zero-padded.
            wav_lens: ``(B,)`` valid samples.

        Returns:
            ``(feats (B, T, F), feat_lens (B,))``.
        """
        win = self.mel.win_length
        if wavs.shape[1] < 512:
            wavs = nn.functional.pad(wavs, (0, 512 - wavs.shape[1]))
        with torch.autocast(device_type=wavs.device.type, enabled=False):
            feats = (self.mel(wavs.float()) + 1e-6).log().transpose(1, 2)  # (B, T, F)
        feat_lens = torch.clamp((wav_lens - max(win, 512)) // self.hop + 1, min=1)
        feat_lens = torch.minimum(feat_lens, torch.tensor(feats.shape[1], device=feats.device))
        if self.cfg.cmvn == "utterance":
            mask = (torch.arange(feats.shape[1], device=feats.device)[None, :]
                    < feat_lens[:, None]).unsqueeze(-1)
            n = feat_lens.clamp(min=1)[:, None, None].to(feats.dtype)
            mean = (feats * mask).sum(1, keepdim=True) / n
            var = (((feats - mean) * mask) ** 2).sum(1, keepdim=True) / n
            feats = (feats - mean) / (var + 1e-5).sqrt() * mask
        return feats, feat_lens


class SpecAugment(nn.Module):
    """Frequency and time masking per utterance (torchaudio's transforms); identity in eval."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 15, time_masks: int = 2,
                 time_width: int = 25) -> None:
        super().__init__()
        self.freq = nn.ModuleList(
            [torchaudio.transforms.FrequencyMasking(freq_width, iid_masks=True)
             for _ in range(freq_masks)])
        self.time = nn.ModuleList(
            [torchaudio.transforms.TimeMasking(time_width, iid_masks=True)
             for _ in range(time_masks)])

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """``(B, T, F)`` -> ``(B, T, F)``, masked when training."""
        if not self.training or (not self.freq and not self.time):
            return feats
        x = feats.transpose(1, 2).unsqueeze(1)  # (B, 1, F, T)
        for m in [*self.freq, *self.time]:
            x = m(x)
        return x.squeeze(1).transpose(1, 2)
