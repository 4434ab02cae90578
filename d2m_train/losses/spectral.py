"""Log-mel spectrogram of the official ``Audio2Mel`` with ``n_mel_channels=128`` (torch only, differentiable).

n_fft 1024, hop 256, Hann window 1024, 128 librosa Slaney mels (fmin 0, fmax sr/2), reflect pad (n_fft-hop)/2
= 384 each side then ``center=False``, magnitude, log10(clamp(., 1e-5)). 44100 and 44032/44096 samples all give
172 frames, so the ground truth (full 2 s) and a decoded prediction compare frame for frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LogMelSpectrogram(nn.Module):
    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256, win_length: int = 1024,
                 n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None):
        super().__init__()
        import librosa

        basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, 1, N) or (B, N) audio -> (B, n_mels, frames); always computed in float32."""
        if audio.dim() == 2:
            audio = audio.unsqueeze(1)
        with torch.autocast(device_type=audio.device.type, enabled=False):
            pad = (self.n_fft - self.hop_length) // 2
            audio = F.pad(audio.float(), (pad, pad), "reflect").squeeze(1)
            spec = torch.stft(audio, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                              window=self.window, center=False, return_complex=True)
            mel = torch.matmul(self.mel_basis, spec.abs())
            return torch.log10(torch.clamp(mel, min=1e-5))
