"""D2M-GAN training harness: models, losses, JukeBox-compatible VQ codebooks, training (``d2m-train fit``),
generation and the paper's metrics (``d2m-train evaluate``)."""

__version__ = "0.1.0"
