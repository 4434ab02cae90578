"""Reusable 1-D building blocks (no model-level knowledge here)."""

from d2m_train.modules.conv import (CONV_NORMS, ResidualStack, ResidualUnit, init_plain_convs, normed_conv,
                                    output_length, wn_conv1d)

__all__ = ["CONV_NORMS", "ResidualStack", "ResidualUnit", "init_plain_convs", "normed_conv", "output_length",
           "wn_conv1d"]
