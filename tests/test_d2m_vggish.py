"""VGGish genre embedder: architecture and key layout of torchvggish, weights from a local path (no download).

The real AudioSet weights cannot be fetched here, so the tests save randomly initialised weights in the exact
torchvggish layout, load them back, embed, and check every way a weights file can be wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from d2m_train.cli import cli
from d2m_train.metrics.genre import MfccStatsEmbedder, get_embedder
from d2m_train.metrics.vggish import VGGish, VGGishEmbedder, VGGishWeightsError, load_vggish, log_mel_patches
from tiktok_dm.testing.music import synth_song

# The state dict of harritaylor/torchvggish's VGG (vggish-10086976.pth): 6 convs, 3 linears.
TORCHVGGISH_SHAPES = {
    "features.0.weight": (64, 1, 3, 3), "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3), "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3), "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3), "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3), "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3), "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288), "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096), "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096), "embeddings.4.bias": (128,),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    state = VGGish().state_dict()
    path = tmp_path_factory.mktemp("vggish") / "vggish-random.pth"
    torch.save(state, path)
    return path, state


def song(seconds: float, seed: int, sample_rate: int = 22050) -> np.ndarray:
    return synth_song(seconds, sample_rate, bpm=90 + 20 * seed, root_hz=110.0 * (seed + 1), seed=seed)


def test_architecture_has_the_torchvggish_layout():
    state = VGGish().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == TORCHVGGISH_SHAPES
    assert sum(v.numel() for v in state.values()) == 72_141_184  # VGGish: 72.1 M parameters


def test_flattening_matches_the_torchvggish_transposes():
    torch.manual_seed(1)
    model = VGGish().eval()
    patches = torch.randn(3, 1, 96, 64)
    with torch.no_grad():
        features = model.features(patches)
        assert features.shape == (3, 512, 6, 4)
        reference = model.embeddings(features.transpose(1, 3).transpose(1, 2).contiguous().view(3, -1))
        assert torch.equal(model(patches), reference)


def test_log_mel_patches_follow_the_vggish_front_end():
    patches = log_mel_patches(song(2.0, 0), 22050)  # 2 s -> 198 frames of 10 ms -> 2 patches of 96
    assert patches.shape == (2, 96, 64) and patches.dtype == np.float32
    assert np.isfinite(patches).all() and patches.min() >= np.log(0.01) - 1e-5
    silent = log_mel_patches(np.zeros(16000 * 3, np.float32), 16000)
    assert silent.shape == (3, 96, 64) and np.allclose(silent, np.log(0.01))
    with pytest.raises(ValueError, match="shorter than one VGGish patch"):
        log_mel_patches(np.zeros(15000, np.float32), 16000)


def test_embedder_loads_weights_from_the_path_and_is_deterministic(weights):
    path, state = weights
    embedder = get_embedder(str(path))
    assert isinstance(embedder, VGGishEmbedder) and embedder.sample_rate == 16000
    assert embedder.name.startswith("vggish (vggish-random.pth, sha256 ")
    for key, value in embedder.model.state_dict().items():
        assert torch.equal(value, state[key]), key
    audio = song(2.0, 1)
    first = embedder.embed(audio, 22050)
    assert first.shape == (128,) and first.dtype == np.float32
    np.testing.assert_array_equal(first, VGGishEmbedder(path).embed(audio, 22050))
    assert not np.allclose(first, embedder.embed(song(2.0, 3), 22050))
    # The segment vector is the mean of its 0.96-s patch embeddings.
    per_patch = embedder.embed_patches(log_mel_patches(audio, 22050))
    np.testing.assert_allclose(first, per_patch.mean(axis=0), rtol=1e-6)
    assert get_embedder(None).name == MfccStatsEmbedder.name


def test_pca_postprocessor_of_a_whole_torchvggish_module(weights, tmp_path):
    path, state = weights
    rotation = torch.linalg.qr(torch.randn(128, 128))[0]
    with_pca = {**state, "pproc._pca_matrix": rotation, "pproc._pca_means": torch.zeros(128, 1)}
    torch.save(with_pca, tmp_path / "vggish_pca.pth")
    plain, pca = VGGishEmbedder(path), VGGishEmbedder(tmp_path / "vggish_pca.pth")
    assert "PCA" in pca.name and "PCA" not in plain.name
    raw = plain.embed_patches(log_mel_patches(song(2.0, 2), 22050))
    expected = np.round((np.clip(raw @ rotation.numpy().T, -2, 2) + 2) * 255 / 4)
    np.testing.assert_allclose(pca.embed_patches(log_mel_patches(song(2.0, 2), 22050)), expected, atol=1.0)


def test_bad_weight_files_name_the_path(weights, tmp_path):
    path, state = weights
    missing = tmp_path / "nowhere" / "vggish.pth"
    with pytest.raises(VGGishWeightsError, match=f"{missing} do not exist"):
        load_vggish(missing)
    partial = {k: v for k, v in state.items() if k != "embeddings.4.weight"}
    partial["classifier.weight"] = torch.zeros(1)
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(VGGishWeightsError, match=r"partial\.pth do not have the torchvggish key layout: missing "
                                                 r"\['embeddings\.4\.weight'\], unexpected \['classifier\.weight'\]"):
        load_vggish(tmp_path / "partial.pth")
    wrong = {**state, "embeddings.4.weight": torch.zeros(64, 4096), "embeddings.4.bias": torch.zeros(64)}
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(VGGishWeightsError, match=r"wrong\.pth have wrong shapes: embeddings\.4\.weight \(64, 4096\) "
                                                 r"\(expected \(128, 4096\)\)"):
        load_vggish(tmp_path / "wrong.pth")
    (tmp_path / "text.pth").write_text("not a torch file")
    with pytest.raises(VGGishWeightsError, match=r"text\.pth cannot be read as a torch file"):
        load_vggish(tmp_path / "text.pth")
    # A DataParallel / {"state_dict": ...} wrapped file loads.
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pth")
    assert isinstance(load_vggish(tmp_path / "wrapped.pth")[0], VGGish)


def test_genre_cli_with_vggish_names_it_and_writes_the_result(weights, tmp_path):
    path, _ = weights
    generated, database = tmp_path / "generated", tmp_path / "database"
    generated.mkdir()
    database.mkdir()
    rows = []
    for genre in range(2):
        audio = song(5.0, genre)
        for k in range(4):  # other segments of each genre in the database than among the queries
            folder = database if k % 2 == 0 else generated
            sf.write(folder / f"g{genre}_{k}.wav", audio[k * 22050:(k + 2) * 22050], 22050)
            rows.append({"file": f"g{genre}_{k}.wav", "genre": f"g{genre}"})
    pd.DataFrame(rows).to_csv(tmp_path / "genres.csv", index=False)
    args = ["evaluate", "genre", "--generated", str(generated), "--generated-genres", str(tmp_path / "genres.csv"),
            "--database", str(database), "--database-genres", str(tmp_path / "genres.csv")]
    result = CliRunner().invoke(cli, [*args, "--vggish", str(path), "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    saved = pd.read_json(tmp_path / "eval" / "genre.json", typ="series")
    queries = pd.read_csv(tmp_path / "eval" / "genre_queries.csv")
    assert saved["total"] == 4 and saved["correct"] == queries["correct"].sum()
    assert (f"genre accuracy {100 * saved['correct'] / 4:.1f} ({saved['correct']}/4), embedder: vggish "
            "(vggish-random.pth, sha256") in result.output
    assert saved["embedder"].startswith("vggish (vggish-random.pth") and saved["generation"] is None
    assert saved["distance"] == "euclidean"  # the paper's, on VGGish embeddings
    assert list(queries["query"]) == sorted(p.name for p in generated.glob("*.wav"))
    assert set(queries["nearest"]) <= {p.name for p in database.glob("*.wav")}
    missing = CliRunner().invoke(cli, [*args, "--vggish", str(tmp_path / "absent.pth")])
    assert missing.exit_code == 2 and f"{tmp_path / 'absent.pth'} do not exist" in missing.output
