"""tiktok-dm: rebuild the TikTok dance-music dataset of D2M-GAN (ECCV 2022).

The pipeline reads a manifest of compilation videos (one row per clip), then runs
download -> cut -> pose -> segments -> split -> export, each stage keeping an on-disk
result per item so that a re-run only does unfinished work.
"""

__version__ = "0.1.0"
