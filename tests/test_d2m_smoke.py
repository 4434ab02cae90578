"""The cpu_smoke config end to end on the `tiktok-dm demo` build: VQ-VAE, generator, discriminators and every
loss train on CPU within the 5-minute budget, losses fall, resume is exact, and generation writes playable mp4s.

Everything goes through the ``d2m-train`` CLI (in process), as a user would run it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from d2m_train.checkpoint import load_checkpoint
from d2m_train.cli import cli
from d2m_train.runlog import read_metrics
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


def test_cpu_smoke_trains_resumes_and_generates(demo_build, tmp_path):
    started = time.perf_counter()
    invoke("vqvae", "--config", CONFIG, "--data", str(demo_build), "--out", str(tmp_path / "vq"))
    vqvae_s = time.perf_counter() - started
    vq_state, hps = read_vqvae_file(tmp_path / "vq" / "vqvae.pt")
    assert set(vq_state) == set(JukeboxVQVAE(VQVAEHParams.from_dict(hps)).state_dict())  # the JukeBox layout
    vq_metrics = torch.load(tmp_path / "vq" / "vqvae.pt", weights_only=True)["metrics"]
    assert vq_metrics["probe_loss_end"] < vq_metrics["probe_loss_start"]  # the VQ-VAE learns

    run = tmp_path / "run"
    fit_args = ["fit", "--config", CONFIG, "--data", str(demo_build), "--vqvae", str(tmp_path / "vq" / "vqvae.pt"),
                "--steps", str(STEPS), "--set", "train.checkpoint_every=5"]
    invoke(*fit_args, "--out", str(run))
    train_s = time.perf_counter() - started
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
    invoke(*fit_args, "--out", str(copy))
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
    samples = tmp_path / "samples"
    invoke("generate", "--run", str(run), "--split", "test", "--out", str(samples))
    generated = sorted((samples / "generated").glob("*.wav"))
    assert [p.name for p in generated] == sorted(p.name for p in (samples / "original").glob("*.wav")) != []
    videos = sorted((samples / "videos").glob("*.mp4"))
    assert [v.stem for v in videos] == ["demo_0003"]
    for video in videos:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                                str(video)], capture_output=True, text=True, check=True)
        assert sorted(probe.stdout.split()) == ["audio", "video"]
        decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-f", "s16le", "-ac", "1", "-"],
                                 capture_output=True, check=True)
        assert decoded.stderr == b""
        audio = np.frombuffer(decoded.stdout, np.int16)
        assert len(audio) > 4 * 22050 and np.abs(audio).max() > 0  # the 4.5-s clip carries sound
    print(f"\ncpu_smoke: VQ-VAE {vqvae_s:.0f} s, GAN {STEPS} steps {train_s - vqvae_s:.0f} s; g_total "
          f"{mean(rows, 'g_total', first):.1f} -> {mean(rows, 'g_total', last):.1f}, g_code "
          f"{mean(rows, 'g_code', first):.2f} -> {mean(rows, 'g_code', last):.2f}, VQ-VAE probe "
          f"{vq_metrics['probe_loss_start']:.3f} -> {vq_metrics['probe_loss_end']:.3f}")
