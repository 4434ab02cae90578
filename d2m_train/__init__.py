"""D2M-GAN training harness: metrics first (beats coverage/hit, genre accuracy); models, losses,
codebooks, training and generation arrive with their own issue."""

__version__ = "0.1.0"
