"""The cpu_smoke config end to end on the `tiktok-dm demo` build: VQ-VAE, generator, discriminators and every
loss train on CPU within the 5-minute budget, losses fall, resume is exact, generation writes playable mp4s, and
the generated test wavs go through `evaluate beats`, `evaluate genre` and `report` (one training for both tests).

Everything goes through the ``d2m-train`` CLI (in process), as a user would run it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from d2m_train.checkpoint import latest_checkpoint, load_checkpoint
from d2m_train.cli import cli
from d2m_train.runlog import read_metrics
from tiktok_dm.media import ffmpeg_binary, probe
from d2m_train.vqvae import JukeboxVQVAE, VQVAEHParams, read_vqvae_file

CONFIG = "d2m_train/configs/cpu_smoke.yaml"
STEPS, RESUME_FROM = 20, 15
BUDGET_S = 300  # the acceptance: the smoke training runs in under 5 minutes on 2 cores

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    done = subprocess.run([sys.executable, "-m", "tiktok_dm.cli", "demo", "--out", str(out), "--executor", "local",
                           "--no-progress"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out / "build"


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()  # cpu_smoke sets 1 intra-op thread
    yield
    torch.set_num_threads(before)


def mean(rows, key, steps):
    return float(np.mean([r[key] for r in rows if r["step"] in steps]))


@pytest.fixture(scope="module")
def smoke(demo_build, tmp_path_factory):
    """VQ-VAE + STEPS GAN steps of cpu_smoke on the demo, then generation on its test split (shared by the tests)."""
    root = tmp_path_factory.mktemp("smoke")
    before = torch.get_num_threads()
    started = time.perf_counter()
    invoke("vqvae", "--config", CONFIG, "--data", str(demo_build), "--out", str(root / "vq"))
    vqvae_s = time.perf_counter() - started
    fit_args = ["fit", "--config", CONFIG, "--data", str(demo_build), "--vqvae", str(root / "vq" / "vqvae.pt"),
                "--steps", str(STEPS), "--set", "train.checkpoint_every=5"]
    invoke(*fit_args, "--out", str(root / "run"))
    train_s = time.perf_counter() - started
    invoke("generate", "--run", str(root / "run"), "--split", "test", "--out", str(root / "samples"))
    torch.set_num_threads(before)
    return {"root": root, "run": root / "run", "vq": root / "vq", "samples": root / "samples", "fit_args": fit_args,
            "vqvae_s": vqvae_s, "train_s": train_s}


def test_cpu_smoke_trains_resumes_and_generates(smoke, tmp_path):
    vqvae_s, train_s, run = smoke["vqvae_s"], smoke["train_s"], smoke["run"]
    vq_state, hps = read_vqvae_file(smoke["vq"] / "vqvae.pt")
    assert set(vq_state) == set(JukeboxVQVAE(VQVAEHParams.from_dict(hps)).state_dict())  # the JukeBox layout
    vq_metrics = torch.load(smoke["vq"] / "vqvae.pt", weights_only=True)["metrics"]
    assert vq_metrics["probe_loss_end"] < vq_metrics["probe_loss_start"]  # the VQ-VAE learns

    rows = read_metrics(run / "metrics.csv")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert all(np.isfinite(v) for r in rows for v in r.values())
    first, last = {1, 2, 3}, {STEPS - 2, STEPS - 1, STEPS}
    for key in ("g_total", "g_code", "g_fm"):
        assert mean(rows, key, last) < 0.8 * mean(rows, key, first), key
    assert {"g_adv", "g_wav", "g_mel", "d_loss"} <= set(rows[0])
    assert (run / "losses.png").stat().st_size > 0 and (run / "config.yaml").is_file()
    assert train_s < BUDGET_S, f"VQ-VAE {vqvae_s:.0f} s + GAN {train_s - vqvae_s:.0f} s"

    # Exact resume: a copy of the run that stopped at its step-15 checkpoint continues to the same losses.
    copy = tmp_path / "resumed"
    shutil.copytree(run, copy)
    (copy / "checkpoints" / f"step_{STEPS:08d}.pt").unlink()
    invoke(*smoke["fit_args"], "--out", str(copy))
    resumed = read_metrics(copy / "metrics.csv")
    assert [r["step"] for r in resumed] == list(range(1, STEPS + 1))
    for a, b in zip(rows[RESUME_FROM:], resumed[RESUME_FROM:], strict=True):
        assert {k: v for k, v in a.items() if k != "steps_per_s"} == {k: v for k, v in b.items() if k != "steps_per_s"}
    final_a = load_checkpoint(run / "checkpoints" / f"step_{STEPS:08d}.pt")
    final_b = load_checkpoint(copy / "checkpoints" / f"step_{STEPS:08d}.pt")
    for name in ("generator", "discriminator"):
        for key, value in final_a[name].items():
            assert torch.equal(value, final_b[name][key]), (name, key)

    # Generation: wavs per test segment and one playable mp4 per test clip.
    samples = smoke["samples"]
    generated = sorted((samples / "generated").glob("*.wav"))
    assert [p.name for p in generated] == sorted(p.name for p in (samples / "original").glob("*.wav")) != []
    videos = sorted((samples / "videos").glob("*.mp4"))
    assert [v.stem for v in videos] == ["demo_0003"]
    for video in videos:
        info = probe(video)
        assert info.has_video and info.has_audio
        decoded = subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(video), "-f", "s16le", "-ac", "1", "-"],
                                 capture_output=True, check=True)
        assert decoded.stderr == b""
        audio = np.frombuffer(decoded.stdout, np.int16)
        assert len(audio) > 4 * 22050 and np.abs(audio).max() > 0  # the 4.5-s clip carries sound
    print(f"\ncpu_smoke: VQ-VAE {vqvae_s:.0f} s, GAN {STEPS} steps {train_s - vqvae_s:.0f} s; g_total "
          f"{mean(rows, 'g_total', first):.1f} -> {mean(rows, 'g_total', last):.1f}, g_code "
          f"{mean(rows, 'g_code', first):.2f} -> {mean(rows, 'g_code', last):.2f}, VQ-VAE probe "
          f"{vq_metrics['probe_loss_start']:.3f} -> {vq_metrics['probe_loss_end']:.3f}")


def test_evaluate_and_report_on_the_smoke_run(smoke, demo_build, tmp_path):
    """The CI end to end: the trained smoke run's test wavs -> evaluate beats + genre -> report (Tables 1 and 2)."""
    samples, out = smoke["samples"], tmp_path / "eval"
    invoke("evaluate", "beats", "--generated", str(samples / "generated"), "--reference", str(samples / "original"),
           "--out", str(out))
    # TikTok has no genre labels: retrieval of the song id among all real segments of the build.
    segments = pd.read_csv(demo_build / "segments.csv", dtype=str)
    labels = tmp_path / "songs.csv"
    segments.assign(file=segments["segment"] + ".wav", genre=segments["song_id"])[["file", "genre"]].to_csv(
        labels, index=False)
    invoke("evaluate", "genre", "--generated", str(samples / "generated"), "--generated-genres", str(labels),
           "--database", str(demo_build / "d2m" / "audio_s2"), "--database-genres", str(labels), "--label", "song_id",
           "--out", str(out))
    invoke("report", "--results", str(out), "--out", str(tmp_path / "report"))

    beats, genre = (json.loads((out / name).read_text()) for name in ("beats.json", "genre.json"))
    test_segments = int((segments["split"] == "test").sum())
    assert beats["pairs"] == genre["total"] == test_segments > 0
    assert 0 <= beats["hit"] <= 1 and 0 <= beats["coverage"] and 0 <= genre["accuracy"] <= 1
    assert beats["generation"]["inputs"] == {"motion": True, "visual": "frame_stats_v1", "genre": False}
    table2 = pd.read_csv(tmp_path / "report" / "table2_tiktok.csv", dtype=str, keep_default_na=False)
    assert list(table2["Method"]) == ["High w/o M", "High w/o V", "High (full)", "Low w/o M", "Low w/o V", "Low (full)"]
    ours = table2.set_index("Method").loc["Low (full)"]  # cpu_smoke: low level, motion + frame_stats visual
    assert (ours["Cover (paper)"], ours["Hit (paper)"]) == ("87.1", "83.9")
    assert ours["Cover (ours)"] == f"{100 * beats['coverage']:.1f}"
    assert ours["Hit (ours)"] == f"{100 * beats['hit']:.1f}"
    assert ours["Genre (ours)"] == f"{100 * genre['accuracy']:.1f} ({genre['correct']}/{test_segments})"
    for note in ("codebook: d2m-train vqvae (80 steps", "visual: frame_stats_v1 (paper: Kinetics I3D)",
                 f"data: build, split test, {test_segments} segments (paper: official test list, 307)",
                 "genre embedder: mfcc-stats-20", f"({STEPS} steps) of config cpu_smoke (paper: 3000 epochs)"):
        assert note in ours["What differed"], note
    table1 = pd.read_csv(tmp_path / "report" / "table1_aistpp.csv", dtype=str, keep_default_na=False)
    assert list(table1["Method"]) == ["Dance2Music", "Foley Music", "CMT", "D2M-GAN high", "D2M-GAN low",
                                      "Random JukeBox / JukeBox recon", "GT"]
    assert table1.set_index("Method").loc["D2M-GAN low", "Cover (paper)"] == "92.3"
    for stem in ("table1_aistpp", "table2_tiktok"):
        markdown = (tmp_path / "report" / f"{stem}.md").read_text()
        assert markdown.startswith("# Table ") and "| Method |" in markdown
    print("\n" + (tmp_path / "report" / "table2_tiktok.md").read_text())


def test_training_from_the_published_hugging_face_dataset(demo_build, smoke, tmp_path):
    """The dataset folder the build publishes trains as well as the build folder: the unpacked segments are
    the build's own files, byte for byte, and `fit --hf-dataset` runs (w/o V: the dataset has no visual
    features), recording where its data came from."""
    from d2m_train.data.hf import segments_from_hf_dataset

    cache = tmp_path / "hf_cache"
    spec = segments_from_hf_dataset(str(demo_build / "dataset"), "train", cache, progress=False)
    table = pd.read_csv(demo_build / "segments.csv", dtype=str)
    train = table[table["split"] == "train"]
    assert sorted(s.name for s in spec.segments) == sorted(train["segment"])
    for files in spec.segments:
        row = train[train["segment"] == files.name].iloc[0]
        assert files.audio.read_bytes() == (demo_build / row["audio"]).read_bytes()
        np.testing.assert_array_equal(np.load(files.motion), np.load(demo_build / row["motion"]).reshape(60, 75))
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.*")}
    segments_from_hf_dataset(str(demo_build / "dataset"), "train", cache, progress=False)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*.*")} == before  # a re-run unpacks nothing

    run = tmp_path / "run"
    invoke("fit", "--config", CONFIG, "--hf-dataset", str(demo_build / "dataset"), "--vqvae",
           str(smoke["vq"] / "vqvae.pt"), "--steps", "2", "--set", "data.visual=none",
           "--set", f"data.hf_cache_dir={cache}", "--out", str(run))
    assert load_checkpoint(latest_checkpoint(run))["step"] == 2
    invoke("generate", "--run", str(run), "--split", "test", "--out", str(tmp_path / "samples"), "--no-mux")
    info = json.loads((tmp_path / "samples" / "generation.json").read_text())
    assert info["data_source"]["kind"] == "hf_dataset" and info["inputs"]["visual"] == "none"
    assert len(list((tmp_path / "samples" / "generated").glob("*.wav"))) == len(table[table["split"] == "test"])

    refused = CliRunner().invoke(cli, ["fit", "--config", CONFIG, "--hf-dataset", str(demo_build / "dataset"),
                                       "--vqvae", str(smoke["vq"] / "vqvae.pt"), "--steps", "1",
                                       "--out", str(tmp_path / "refused")])
    assert refused.exit_code != 0 and "data.visual none" in (refused.output + str(refused.exception))
