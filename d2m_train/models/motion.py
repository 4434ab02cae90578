"""Motion encoder G_m: a (frames, joint values) skeleton segment -> a (1, out_dim) motion embedding.

Both variants read the segment the way the official code does: a per-frame ``Linear(joint_dim -> hidden)``, then
the **frames act as channels** of a 1-D conv stack over the hidden axis, and a final ``Linear(L -> out_dim)``.
(The paper's Table A.7 shows only the conv stack; the two Linear layers come from the code.)

``arch="paper"`` (Table A.7): conv k6 -> c0, LReLU, RS(c0); conv k3 -> c1, LReLU, RS(c1); conv k3 -> c2, LReLU,
RS(c2); conv k3 -> c2, LReLU; conv k4 -> 1.
``arch="official"`` (``motion_encoder`` in d2m_modules*.py): conv k6 -> c0, ReLU, RS(c0); LReLU, conv k4 -> c1,
RS(c1); LReLU, conv k4 -> c2, RS(c2); LReLU, conv k4 -> 1 (no extra c2 -> c2 conv).
Both shrink the hidden axis by 14 (800 -> 786), so the output Linear is the same.
TikTok: (B, 60, 75) (30 fps x BODY_25 x,y,conf); AIST++: (B, 120, 219) (60 fps x SMPL trans + 24 rotations).
"""

from __future__ import annotations

import torch
from torch import nn

from d2m_train.modules import ResidualStack, init_plain_convs, normed_conv

MOTION_ARCHS = ("paper", "official")


class MotionEncoder(nn.Module):
    def __init__(self, frames: int, joint_dim: int, arch: str = "paper", hidden: int = 800,
                 channels: tuple[int, int, int] = (256, 512, 1024), out_dim: int = 1024, res_units: int = 3,
                 norm: str = "batch"):
        super().__init__()
        if arch not in MOTION_ARCHS:
            raise ValueError(f"unknown motion encoder arch {arch!r}; choose one of {MOTION_ARCHS}")
        if len(channels) != 3:
            raise ValueError(f"the motion encoder has 3 conv widths, got {channels}")
        c0, c1, c2 = channels
        self.frames, self.joint_dim, self.out_dim = frames, joint_dim, out_dim
        self.frame_proj = nn.Linear(joint_dim, hidden)
        if arch == "paper":
            layers = [*normed_conv(frames, c0, 6, norm=norm), nn.LeakyReLU(0.2), ResidualStack(c0, res_units),
                      *normed_conv(c0, c1, 3, norm=norm), nn.LeakyReLU(0.2), ResidualStack(c1, res_units),
                      *normed_conv(c1, c2, 3, norm=norm), nn.LeakyReLU(0.2), ResidualStack(c2, res_units),
                      *normed_conv(c2, c2, 3, norm=norm), nn.LeakyReLU(0.2),
                      nn.Conv1d(c2, 1, 4)]
            reduced = hidden - 5 - 2 - 2 - 2 - 3
        else:
            layers = [*normed_conv(frames, c0, 6, norm=norm), nn.ReLU(), ResidualStack(c0, res_units),
                      nn.LeakyReLU(0.2), *normed_conv(c0, c1, 4, norm=norm), ResidualStack(c1, res_units),
                      nn.LeakyReLU(0.2), *normed_conv(c1, c2, 4, norm=norm), ResidualStack(c2, res_units),
                      nn.LeakyReLU(0.2), nn.Conv1d(c2, 1, 4)]
            reduced = hidden - 5 - 3 - 3 - 3
        if reduced < 28:  # the dilation-27 unit reflect-pads 27 samples
            raise ValueError(f"motion hidden width {hidden} is too small")
        self.convs = nn.Sequential(*layers)
        self.out_proj = nn.Linear(reduced, out_dim)
        init_plain_convs(self)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        """(B, frames, joint_dim) -> (B, 1, out_dim)."""
        if motion.shape[1:] != (self.frames, self.joint_dim):
            raise ValueError(f"motion must be (B, {self.frames}, {self.joint_dim}), got {tuple(motion.shape)}")
        return self.out_proj(self.convs(self.frame_proj(motion)))
