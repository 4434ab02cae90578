"""Hyperparameters of the JukeBox VQ-VAE family (openai/jukebox ``hparams.vqvae``)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class VQVAEHParams:
    levels: int = 3
    downs_t: tuple[int, ...] = (3, 2, 2)
    strides_t: tuple[int, ...] = (2, 2, 2)
    emb_width: int = 64
    l_bins: int = 2048
    width: int = 32
    depth: int = 4
    multipliers: tuple[int, ...] = (2, 1, 1)  # hvqvae_multipliers: scale width and depth per level
    m_conv: float = 1.0
    dilation_growth_rate: int = 3
    reverse_decoder_dilation: bool = True
    mu: float = 0.99  # EMA decay of the codebook
    commit: float = 0.02
    revival_threshold: float = 1.0

    def __post_init__(self):
        for name in ("downs_t", "strides_t", "multipliers"):
            if len(getattr(self, name)) != self.levels:
                raise ValueError(f"{name} needs one entry per level ({self.levels}), got {getattr(self, name)}")

    @property
    def hop_lengths(self) -> tuple[int, ...]:
        hops, hop = [], 1
        for stride, down in zip(self.strides_t, self.downs_t):
            hop *= stride ** down
            hops.append(hop)
        return tuple(hops)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "VQVAEHParams":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown VQ-VAE hyperparameters {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


# The released JukeBox 5b VQ-VAE (shared by 5b, 5b_lyrics, 1b_lyrics): 669 state-dict entries, 1,485,763 params.
JUKEBOX_5B = VQVAEHParams()
