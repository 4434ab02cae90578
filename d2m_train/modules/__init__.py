"""Reusable 1-D building blocks (no model-level knowledge here)."""

from d2m_train.modules.conv import (NORMS, ResidualStack, ResidualUnit, conv_norm, init_plain_convs, output_length,
                                    wn_conv1d)

__all__ = ["NORMS", "ResidualStack", "ResidualUnit", "conv_norm", "init_plain_convs", "output_length", "wn_conv1d"]
