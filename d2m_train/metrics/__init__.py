"""Evaluation metrics of the D2M-GAN paper."""

from d2m_train.metrics.beats import BeatsScore, beats_scores, pair_by_name, second_level_beats
from d2m_train.metrics.genre import MfccStatsEmbedder, genre_accuracy

__all__ = ["BeatsScore", "beats_scores", "pair_by_name", "second_level_beats", "MfccStatsEmbedder", "genre_accuracy"]
