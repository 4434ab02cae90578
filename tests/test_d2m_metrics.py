from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from d2m_train.cli import cli
from d2m_train.metrics.beats import beats_scores, pair_by_name, second_level_beats
from d2m_train.metrics.genre import MfccStatsEmbedder, folder_genre_accuracy, genre_accuracy
from tiktok_dm.testing.music import synth_song

# Per-pair values of the official Beats_Scores tool on its own sample wavs (see the reference doc, 6.1).
EXPECTED_PAIRS = {"1.wav": (5 / 6, 5 / 6), "2.wav": (0.5, 0.5), "3.wav": (4 / 6, 4 / 6)}


@pytest.fixture(scope="module")
def samples(shared_dir):
    root = shared_dir / "reference" / "beats_scores_samples"
    return root / "syn_samples", root / "ref_samples"


def test_beats_metric_equals_the_reference_values(samples):
    generated, reference = samples
    score = beats_scores(pair_by_name(generated, reference))
    for pair in score.pairs:
        coverage, hit = EXPECTED_PAIRS[pair.generated.rsplit("/", 1)[-1]]
        assert abs(pair.coverage - coverage) < 1e-6 and abs(pair.hit - hit) < 1e-6
    assert abs(score.coverage - 2 / 3) < 1e-6 and abs(score.hit - 2 / 3) < 1e-6


def test_beats_cli_prints_the_mean(samples):
    generated, reference = samples
    result = CliRunner().invoke(cli, ["evaluate", "beats", "--generated", str(generated), "--reference", str(reference)])
    assert result.exit_code == 0, result.output
    assert "pairs 3  beats coverage 0.6667  beats hit 0.6667" in result.output


def test_second_level_bins_follow_onsets():
    sample_rate = 22050
    audio = np.zeros(int(4.5 * sample_rate), np.float32)
    for second in (0.3, 2.4):  # clicks in seconds 0 and 2 only
        start = int(second * sample_rate)
        audio[start:start + 300] = np.hanning(300)
    assert second_level_beats(audio, sample_rate).tolist() == [1, 0, 1, 0, 0]


def test_bad_pairs_are_clear_errors(tmp_path):
    generated, reference = tmp_path / "gen", tmp_path / "ref"
    generated.mkdir()
    reference.mkdir()
    sf.write(generated / "a.wav", np.zeros(22050, np.float32), 22050)
    with pytest.raises(ValueError, match=r"without a partner.*a\.wav"):
        pair_by_name(generated, reference)
    sf.write(reference / "a.wav", np.zeros(22050, np.float32), 22050)
    with pytest.raises(ValueError, match="has no onset at all"):
        beats_scores(pair_by_name(generated, reference))


def _genre_segments(genres: int, per_genre: int) -> tuple[np.ndarray, list[str]]:
    embedder = MfccStatsEmbedder()
    vectors, labels = [], []
    for genre in range(genres):
        song = synth_song(2.0 * per_genre, 16000, bpm=80 + 25 * genre, root_hz=90.0 * (genre + 1), seed=genre)
        for k in range(per_genre):
            vectors.append(embedder.embed(song[k * 32000:(k + 1) * 32000], 16000))
            labels.append(f"g{genre}")
    return np.stack(vectors), labels


def test_genre_accuracy_known_answers():
    vectors, labels = _genre_segments(genres=4, per_genre=10)
    itself = genre_accuracy(vectors, labels, vectors, labels, MfccStatsEmbedder.name, standardise=True)
    assert itself.accuracy == 1.0 and itself.total == 40
    shuffled = list(np.random.default_rng(0).permutation(labels))
    chance = genre_accuracy(vectors, labels, vectors, shuffled, MfccStatsEmbedder.name, standardise=True)
    assert 0.05 <= chance.accuracy <= 0.5  # chance is 1/4
    # Held-out segments of the same synthetic genres are still retrieved by genre.
    held_out = genre_accuracy(vectors[1::2], labels[1::2], vectors[0::2], labels[0::2], MfccStatsEmbedder.name,
                              standardise=True)
    assert held_out.accuracy >= 0.9


def test_a_wrong_embedder_scores_low_against_a_held_out_database():
    """With queries as their own database any embedder scores 100 %; against other segments of the same genres an
    embedder that ignores the audio falls to chance (1/4) while the MFCC statistics still retrieve by genre."""
    vectors, labels = _genre_segments(genres=4, per_genre=10)
    rng = np.random.default_rng(7)
    blind = rng.standard_normal(vectors.shape)  # what an embedder blind to the audio gives
    assert genre_accuracy(blind, labels, blind, labels, "blind").accuracy == 1.0  # the old test's setting
    queries, database = slice(1, None, 2), slice(0, None, 2)
    wrong = genre_accuracy(blind[queries], labels[queries], blind[database], labels[database], "blind")
    right = genre_accuracy(vectors[queries], labels[queries], vectors[database], labels[database],
                           MfccStatsEmbedder.name, standardise=True)
    assert wrong.accuracy <= 0.45 and right.accuracy >= 0.9


def test_the_distance_is_plain_euclidean_unless_the_embedder_asks_for_z_scores():
    """The paper retrieves by Euclidean distance; z-scoring (over queries + database) is the MFCC embedder's own
    choice, named by it. Dimension 0 spans hundreds: plain distance follows it, z-scores weigh both dimensions."""
    from d2m_train.metrics.vggish import VGGishEmbedder

    queries = np.array([[100.0, 0.0]])
    database = np.array([[101.0, 3.0], [130.0, 0.0], [0.0, 0.0], [200.0, 3.0]])
    labels = ["a", "b", "c", "d"]
    # Plain: 3.2 to the first, 30 to the second. Z-scored (dimension 0 spread ~64, dimension 1 ~1.5): the first is
    # 2 standard deviations away in dimension 1, the second half of one in dimension 0.
    assert genre_accuracy(queries, ["a"], database, labels, "x").nearest == (0,)
    assert genre_accuracy(queries, ["a"], database, labels, "x", standardise=True).nearest == (1,)
    assert MfccStatsEmbedder.standardise is True and VGGishEmbedder.standardise is False


def test_folder_genre_accuracy_retrieves_held_out_segments_by_their_labels(tmp_path):
    """Queries and database are different segments: the even ones are the database, the odd ones the queries.
    Labels from a file,genre CSV; a swapped label is counted wrong."""
    generated, database = tmp_path / "generated", tmp_path / "database"
    generated.mkdir()
    database.mkdir()
    rows = []
    for genre in range(3):
        song = synth_song(8.0, 16000, bpm=80 + 25 * genre, root_hz=90.0 * (genre + 1), seed=genre)
        for k in range(4):
            folder = database if k % 2 == 0 else generated
            name = f"s{genre}_{k}.wav"
            sf.write(folder / name, song[k * 32000:(k + 1) * 32000], 16000)
            rows.append({"file": name, "genre": f"g{genre}"})
    labels = tmp_path / "genres.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    result, queries = folder_genre_accuracy(generated, database, MfccStatsEmbedder(), labels, labels)
    assert (result.correct, result.total) == (6, 6)
    assert [q.query for q in queries] == sorted(p.name for p in generated.glob("*.wav"))
    assert all(q.correct and q.nearest.startswith(q.query.split("_")[0]) for q in queries)
    swapped = pd.DataFrame(rows)
    swapped.loc[swapped["file"] == "s0_1.wav", "genre"] = "g2"
    swapped.to_csv(tmp_path / "swapped.csv", index=False)
    result, queries = folder_genre_accuracy(generated, database, MfccStatsEmbedder(), tmp_path / "swapped.csv", labels)
    assert (result.correct, result.total) == (5, 6)
    assert [q.query for q in queries if not q.correct] == ["s0_1.wav"]


def test_genre_cli_names_the_embedder(tmp_path):
    folder = tmp_path / "segments"
    folder.mkdir()
    rows = []
    for genre in range(2):
        song = synth_song(4.0, 22050, bpm=90 + 30 * genre, root_hz=110.0 * (genre + 1), seed=genre)
        for k in range(2):
            name = f"g{genre}_{k}.wav"
            sf.write(folder / name, song[k * 44100:(k + 1) * 44100], 22050)
            rows.append({"file": name, "genre": f"g{genre}"})
    labels = tmp_path / "genres.csv"
    pd.DataFrame(rows).to_csv(labels, index=False)
    result = CliRunner().invoke(cli, ["evaluate", "genre", "--generated", str(folder), "--generated-genres", str(labels),
                                      "--database", str(folder), "--database-genres", str(labels)])
    assert result.exit_code == 0, result.output
    assert "genre accuracy 100.0 (4/4), embedder: mfcc-stats-20" in result.output
