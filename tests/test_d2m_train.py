"""Configs, data plumbing and the solver on a tiny synthetic build: exact resume, DDP at world size 1, logs."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from d2m_fixtures import synthetic_build
from d2m_train import builders
from d2m_train.config import apply_override, config_from_dict, load_config
from d2m_train.data.loading import EpochBatchSampler, SeededSegments, genre_index
from d2m_train.data.visual import FrameStatsExtractor
from d2m_train.distributed import DistInfo
from d2m_train.runlog import MetricsCSV, read_metrics
from d2m_train.solver import D2MSolver
from d2m_train.vqvae import JukeboxVQVAE, VQVAEHParams, save_vqvae

CONFIGS = ["tiktok_high", "tiktok_low", "aist_high", "aist_low", "cpu_smoke"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_build(name):
    cfg = load_config(f"d2m_train/configs/{name}.yaml")
    with torch.device("meta"):
        generator, discriminator = builders.get_generator(cfg), builders.get_discriminator(cfg)
        inputs = {"motion": torch.zeros(2, *((120, 219) if cfg.data.dataset == "aistplus" else (60, 75))),
                  "video": torch.zeros(2, 1, 2048)}
        latent = generator(**inputs)
        assert discriminator(latent)[0][-1].shape[:2] == (2, 1)
    assert latent.shape == (2, 64, 344 if cfg.model.level == "high" else 1378)
    assert cfg.optim.lr == 1e-4 and cfg.optim.betas == (0.5, 0.9)
    assert (cfg.loss.fm, cfg.loss.c, cfg.loss.wav, cfg.loss.mel) == (3.0, 15.0, 40.0, 15.0)
    if name != "cpu_smoke":
        assert cfg.train.batch_size == 16 and cfg.model.generator.res_units == 3  # paper defaults


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"unknown key\(s\) model\.generator\.width"):
        config_from_dict({"model": {"generator": {"width": 3}}})
    with pytest.raises(ValueError, match="loss.mel must be a number"):
        config_from_dict({"loss": {"mel": "high"}})
    with pytest.raises(ValueError, match="data.visual must be one of"):
        config_from_dict({"data": {"visual": "i3d"}})
    values = {}
    apply_override(values, "train.max_steps=5")
    assert values == {"train": {"max_steps": 5}}
    with pytest.raises(ValueError, match="not key=value"):
        apply_override(values, "train.max_steps")
    with pytest.raises(ValueError, match="genre labels"):
        builders.get_generator(config_from_dict({"model": {"generator": {"genre_dim": 8}}}))


def test_sampler_resumes_mid_epoch_and_shards_ranks():
    full = EpochBatchSampler(10, 3, seed=4)
    batches = [b for b, _ in zip(full, range(7))]
    assert full.batches_per_epoch == 3 and len({i for b in batches[:3] for _, i in b}) == 9
    resumed = [b for b, _ in zip(EpochBatchSampler(10, 3, seed=4, start_step=4), range(3))]
    assert resumed == batches[4:7]
    ranks = [next(iter(EpochBatchSampler(10, 2, seed=4, rank=r, world_size=2))) for r in range(2)]
    assert not {i for _, i in ranks[0]} & {i for _, i in ranks[1]}
    with pytest.raises(ValueError, match="lower train.batch_size"):
        EpochBatchSampler(3, 4, seed=0)


def test_genre_from_aist_names():
    assert genre_index("gBR_sBM_c01_d04_mBR0_ch01_seg1") == 0
    assert genre_index("gJB_sFM_c01_d09_mJB5_ch10_seg3") == 9
    with pytest.raises(ValueError, match="AIST"):
        genre_index("000007_7_188_seg1")


def test_frame_stats_feature():
    frames = np.zeros((60, 36, 64, 3), np.uint8)
    frames[30:, :, :32] = 255  # the left half lights up halfway through
    feature = FrameStatsExtractor()(frames)
    assert feature.shape == (1, 2048) and feature.dtype == np.float32
    appearance, motion = feature[0, :1024].reshape(32, 32), feature[0, 1024:].reshape(32, 32)
    assert appearance[:, :16].mean() == pytest.approx(0.5, abs=0.05) and appearance[:, 16:].max() == 0
    assert motion[:, :16].mean() > 0 and motion[:, 16:].max() == 0


def test_metrics_csv_drops_rows_after_the_resume_step(tmp_path):
    log = MetricsCSV(tmp_path / "m.csv")
    for step in range(1, 6):
        log.write({"step": step, "loss": float(step)})
    MetricsCSV(tmp_path / "m.csv", resume_step=3).write({"step": 4, "loss": 40.0})
    assert [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "m.csv")] == [(1, 1), (2, 2), (3, 3), (4, 40)]


# ----------------------------------------------------------------------------------------- the solver


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro")
    build = synthetic_build(root / "build")
    torch.manual_seed(0)
    vqvae = JukeboxVQVAE(VQVAEHParams(l_bins=16, width=4, depth=1, multipliers=(1, 1, 1)))
    for block in vqvae.bottleneck.level_blocks:
        block.k.normal_()
    save_vqvae(vqvae, root / "vqvae.pt")
    cfg = load_config("d2m_train/configs/cpu_smoke.yaml", [
        f"data.build_dir={build}", "data.visual=none", f"vqvae.path={root / 'vqvae.pt'}", "model.level=high",
        "model.generator.channels=[4, 4, 4, 4, 4]", "model.motion.channels=[4, 4, 8]", "model.motion.hidden=64",
        "model.discriminator.ndf=4", "model.discriminator.max_channels=16",
        "model.discriminator.penultimate_channels=8",
        "train.max_steps=3", "train.checkpoint_every=2", "train.cpu_threads=0"])
    return cfg


def test_resume_is_exact(micro, tmp_path):
    straight = D2MSolver(micro, tmp_path / "a")
    straight.fit()
    rows = read_metrics(tmp_path / "a" / "metrics.csv")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert (tmp_path / "a" / "losses.png").stat().st_size > 0
    assert load_config(tmp_path / "a" / "config.yaml") == micro  # the resolved config, dumped
    # A run stopped after its step-2 checkpoint, resumed by a fresh solver.
    half = D2MSolver(dataclasses.replace(micro, train=dataclasses.replace(micro.train, max_steps=2)),
                     tmp_path / "b")
    half.fit()
    resumed = D2MSolver(micro, tmp_path / "b")
    resumed.fit()
    assert resumed.step == 3
    resumed_rows = read_metrics(tmp_path / "b" / "metrics.csv")
    for before, after in zip(rows, resumed_rows, strict=True):
        for key in before:
            if key != "steps_per_s":
                assert before[key] == after[key], (key, before["step"])
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.opt_d.state_dict()["state"].values(), resumed.opt_d.state_dict()["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == ["step_00000002.pt",
                                                                                  "step_00000003.pt"]


def _scalars(run_dir):
    """tag -> [(step, value)] of every TensorBoard event file of a run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_tensorboard_has_the_csv_rows_and_a_resume_writes_each_step_once(micro, tmp_path):
    run = tmp_path / "run"
    D2MSolver(micro, run).fit()
    (run / "checkpoints" / "step_00000003.pt").unlink()  # as if it crashed after logging step 3
    D2MSolver(micro, run).fit()  # resumes at step 2, logs step 3 again
    rows, scalars = read_metrics(run / "metrics.csv"), _scalars(run)
    assert {"g_total", "d_loss", "g_mel"} <= set(scalars)
    for tag, points in scalars.items():
        assert [step for step, _ in points] == [1, 2, 3], tag
        assert [value for _, value in points] == pytest.approx([r[tag] for r in rows], rel=1e-6), tag


def test_tensorboard_gets_generated_and_real_music_at_every_checkpoint(micro, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    D2MSolver(micro, run).fit()
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"audio": 0}).Reload()
    tags = events.Tags()["audio"]
    assert len([t for t in tags if t.startswith("generated/")]) == micro.train.tensorboard_audio
    assert len([t for t in tags if t.startswith("real/")]) == micro.train.tensorboard_audio
    checkpoints = sorted(int(p.stem.split("_")[1]) for p in (run / "checkpoints").iterdir())
    for tag in tags:
        clips = events.Audio(tag)
        assert [clip.step for clip in clips] == [step for step in range(1, 4)
                                                 if step % micro.train.checkpoint_every == 0 or step == 3]
        assert clips[-1].sample_rate == 22050 and len(clips[-1].encoded_audio_string) > 1000
    assert checkpoints


def test_the_first_step_says_how_saturated_the_generator_starts(micro, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="d2m_train.solver"):
        D2MSolver(dataclasses.replace(micro, train=dataclasses.replace(micro.train, max_steps=1)), tmp_path / "a").fit()
    assert [r for r in caplog.records if "tanh saturation at step 0" in r.getMessage()]
    caplog.clear()
    strict = dataclasses.replace(micro, train=dataclasses.replace(micro.train, max_steps=1, max_init_saturation=-1.0))
    with caplog.at_level(logging.INFO, logger="d2m_train.solver"):
        D2MSolver(strict, tmp_path / "b").fit()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING and "starts saturated" in r.getMessage()]
    assert "model.generator.norm is 'none'" in warning.getMessage()


def test_resume_refuses_a_changed_model(micro, tmp_path):
    D2MSolver(dataclasses.replace(micro, train=dataclasses.replace(micro.train, max_steps=1)), tmp_path).fit()
    changed = dataclasses.replace(micro, model=dataclasses.replace(
        micro.model, generator=dataclasses.replace(micro.model.generator, sigma=1.0)))
    with pytest.raises(ValueError, match="different model"):
        D2MSolver(changed, tmp_path).fit()


def test_ddp_code_path_at_world_size_one(micro, tmp_path):
    """torchrun's code path (process group, DDP wrappers) on gloo with one rank gives the plain run's losses."""
    import torch.distributed as dist

    cfg = dataclasses.replace(micro, train=dataclasses.replace(micro.train, max_steps=2))
    plain = D2MSolver(cfg, tmp_path / "plain").fit()
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        solver = D2MSolver(cfg, tmp_path / "ddp", dist_info=DistInfo(0, 0, 1, ddp=True))
        assert isinstance(solver.g_train, torch.nn.parallel.DistributedDataParallel)
        ddp = solver.fit()
    finally:
        dist.destroy_process_group()
    assert all(math.isclose(plain[k], ddp[k], rel_tol=1e-5, abs_tol=1e-6) for k in plain)


def test_items_are_a_function_of_seed_epoch_index(micro):
    dataset = builders.get_dataset(micro, "train", train=True)
    items = SeededSegments(dataset, seed=3)
    a = items[(2, 1)]
    items[(0, 0)]  # reading another item in between must not change what (2, 1) gives
    c = items[(2, 1)]
    np.testing.assert_array_equal(a["audio"], c["audio"])
    assert not np.array_equal(items[(1, 1)]["audio"], a["audio"])  # another epoch, another gain


def test_cli_names_what_is_missing(micro, tmp_path):
    from click.testing import CliRunner

    from d2m_train.cli import cli

    runner = CliRunner()
    result = runner.invoke(cli, ["fit", "--config", "d2m_train/configs/cpu_smoke.yaml", "--data",
                                 micro.data.build_dir, "--set", "data.visual=none", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no VQ-VAE: pass --vqvae PATH" in result.output
    result = runner.invoke(cli, ["fit", "--config", "d2m_train/configs/cpu_smoke.yaml", "--data",
                                 micro.data.build_dir, "--vqvae", str(tmp_path / "none.pt"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(cli, ["generate", "--run", str(tmp_path), "--out", str(tmp_path / "g")])
    assert result.exit_code == 2 and "not a training run" in result.output


def test_set_off_means_off_and_paths_with_hash_or_colon_stay_whole(tmp_path):
    """`--set train.amp=off` is the string off (YAML 1.1 would read false); a --data folder named
    "my runs #2: final" is that folder (through a YAML string it was cut at ' #')."""
    from d2m_train.cli import _load

    build = tmp_path / "my runs #2: final" / "build"
    build.mkdir(parents=True)
    cfg = _load(Path("d2m_train/configs/cpu_smoke.yaml"), build, None, None, None, ("train.amp=off",))
    assert cfg.train.amp == "off"
    assert Path(cfg.data.build_dir) == build.resolve()
    # Paths are set as typed values, never through text: names YAML would read as a list, a bool or a number stay.
    for name in ("- first", "true", "2026", "null"):
        folder = tmp_path / name
        folder.mkdir()
        cfg = _load(Path("cpu_smoke"), None, None, folder, folder, (), {"vqvae.path": folder / "vq.pt"})
        assert (cfg.data.official_lists, cfg.data.root, cfg.vqvae.path) == (str(folder), str(folder),
                                                                            str(folder / "vq.pt"))
        assert cfg.data.build_dir is None
    values = {}
    apply_override(values, "train.deterministic=true")
    apply_override(values, "data.visual=none")
    assert values == {"train": {"deterministic": True}, "data": {"visual": "none"}}


def test_each_rank_gets_its_own_gpu_and_a_named_gpu_is_refused_under_torchrun():
    """An explicit cuda:N under torchrun put every rank on GPU N; checked without a GPU (the parsing is pure)."""
    from d2m_train.solver import device_for_rank

    two = DistInfo(rank=1, local_rank=1, world_size=2, ddp=True)
    assert device_for_rank("cuda", two, True, 2) == torch.device("cuda", 1)
    assert device_for_rank("auto", two, True, 2) == torch.device("cuda", 1)
    assert device_for_rank("cuda:1", DistInfo(), True, 2) == torch.device("cuda", 1)
    assert device_for_rank("auto", DistInfo(), False, 0) == torch.device("cpu")
    with pytest.raises(ValueError, match="every rank on GPU 0"):
        device_for_rank("cuda:0", two, True, 2)
    with pytest.raises(ValueError, match="GPU 1 asked .*1 visible"):
        device_for_rank("cuda", two, True, 1)
    with pytest.raises(ValueError, match="CUDA is not available"):
        device_for_rank("cuda", DistInfo(), False, 0)
    with pytest.raises(ValueError, match="not a device"):
        device_for_rank("gpu0", DistInfo(), True, 1)


def test_a_run_saved_on_more_or_fewer_gpus_restores_the_states_it_can(caplog):
    """set_rng_state_all with 8 saved states on a 4-GPU machine raised; now the first min(saved, here) come back."""
    from d2m_train.checkpoint import cuda_states_to_restore

    saved = [torch.full((8,), i, dtype=torch.uint8) for i in range(4)]
    with caplog.at_level(logging.WARNING, logger="d2m_train.checkpoint"):
        restored = cuda_states_to_restore(saved, 2)
    assert list(restored) == [0, 1] and torch.equal(restored[1], saved[1])
    assert "4 GPU(s), this machine has 2" in caplog.text
    assert list(cuda_states_to_restore(saved[:1], 4)) == [0]
    assert list(cuda_states_to_restore(saved, 4)) == [0, 1, 2, 3]


def test_auto_amp_takes_bf16_only_where_the_gpu_computes_it(monkeypatch):
    from d2m_train.solver import amp_dtype

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert amp_dtype("auto", torch.device("cuda", 0)) is None  # a pre-Ampere GPU: bf16 only emulated
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert amp_dtype("auto", torch.device("cuda", 0)) is torch.bfloat16
    assert amp_dtype("auto", torch.device("cpu")) is None and amp_dtype("bf16", torch.device("cpu")) is torch.bfloat16


def _ddp_rank(rank: int, cfg, run_dir: str, store: str, out: str) -> None:
    """One rank of a two-process gloo run (torch.multiprocessing.spawn target): fit, then save the generator."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        solver = D2MSolver(cfg, run_dir, dist_info=DistInfo(rank, rank, 2, ddp=True))
        solver.fit()
        torch.save({name: value.detach().clone() for name, value in solver.generator.named_parameters()},
                   f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_two_ranks_hold_the_same_weights_and_the_run_resumes_on_one(micro, tmp_path, norm):
    """World size 2 on CPU (gloo, two processes; BatchNorm in the motion encoder always, in the generator with norm
    batch: on CPU it keeps per-rank statistics, as PyTorch's SyncBatchNorm needs GPUs and refused to run): after the
    steps both ranks hold identical weights, and the checkpoint resumes in a single process."""
    import torch.multiprocessing as mp

    model = dataclasses.replace(micro.model, generator=dataclasses.replace(micro.model.generator, norm=norm))
    cfg = dataclasses.replace(micro, model=model, train=dataclasses.replace(micro.train, max_steps=2,
                                                                            checkpoint_every=2, num_workers=0))
    run_dir = tmp_path / "run"
    mp.spawn(_ddp_rank, args=(cfg, str(run_dir), str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    assert ranks[0].keys() == ranks[1].keys()
    for name in ranks[0]:
        torch.testing.assert_close(ranks[0][name], ranks[1][name], rtol=0, atol=0, msg=name)
    from d2m_train.checkpoint import seed_everything

    seed_everything(cfg.train.seed)  # as the solver builds it
    initial = dict(builders.get_generator(cfg).named_parameters())
    unchanged = [name for name in initial if torch.equal(initial[name], ranks[0][name])]
    assert len(unchanged) < len(initial) / 2, unchanged  # the same start, and the steps moved the weights
    resumed = D2MSolver(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_steps=3)), run_dir)
    resumed.fit()
    assert resumed.step == 3


def test_configs_are_found_by_name_or_path_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `d2m-train vqvae --config cpu_smoke` from /tmp failed: paths were repo-relative
    assert load_config("cpu_smoke").name == load_config("cpu_smoke.yaml").name
    assert load_config("d2m_train/configs/tiktok_low.yaml").model.level == "low"
    mine = tmp_path / "mine.yaml"
    mine.write_text("name: mine\n")
    assert load_config("mine.yaml").name == "mine"  # a file here wins
    with pytest.raises(FileNotFoundError, match="nope.yaml does not exist .*cpu_smoke"):
        load_config("nope.yaml")
