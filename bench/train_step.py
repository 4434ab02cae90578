"""Training-step throughput and peak memory of the full-size D2M-GAN paper configs, a row per config.

    python bench/train_step.py                       # CPU: batch 1, the four paper configs
    python bench/train_step.py --device cuda          # CUDA: batch 16, bf16 autocast where the GPU computes it
    python bench/train_step.py --configs tiktok_low --batch 4 --steps 5 --threads 1

One full step = G forward, D step (fake + real), G step with every loss (adv, FM, codebook, wav and mel through
the VQ-VAE decoder). Inputs are synthetic (random audio/motion/I3D-sized features) and the VQ-VAE is a randomly
initialised JukeBox 5b (same shapes and cost as the released weights). Each config runs in its own process, so
the CPU peak is that process's max RSS; on CUDA it is torch.cuda.max_memory_allocated.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_CONFIGS = ("tiktok_high", "tiktok_low", "aist_high", "aist_low")


def child(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch

    from d2m_train.config import load_config
    from d2m_train.data.segments import MOTION_SHAPES, VISUAL_SHAPE
    from d2m_train.distributed import DistInfo
    from d2m_train.solver import D2MSolver
    from d2m_train.vqvae import JUKEBOX_5B, JukeboxVQVAE, save_vqvae

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        vqvae = JukeboxVQVAE(JUKEBOX_5B)
        for block in vqvae.bottleneck.level_blocks:
            block.k.normal_()
        save_vqvae(vqvae, Path(tmp) / "vqvae.pt")
        cfg = load_config(args.config,
                          [f"vqvae.path={Path(tmp) / 'vqvae.pt'}", f"train.device={args.device}",
                           f"train.amp={args.amp}"])
        solver = D2MSolver(cfg, Path(tmp) / "run", dist_info=DistInfo())
    device = solver.device
    frames, joint_dim = MOTION_SHAPES[cfg.data.dataset]
    batch = {"audio": 0.3 * torch.randn(args.batch, 44100), "motion": torch.randn(args.batch, frames, joint_dim),
             "video": torch.rand(args.batch, *VISUAL_SHAPE)}
    if cfg.model.generator.genre_dim:
        batch["genre"] = torch.randint(0, 10, (args.batch,))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        solver.run_step(batch)
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.steps):
        losses = solver.run_step(batch)
    sync()
    elapsed = time.perf_counter() - started
    peak = (torch.cuda.max_memory_allocated() if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"config": args.config, "level": cfg.model.level, "device": str(device), "amp": str(solver.amp),
            "batch": args.batch,
            "threads": torch.get_num_threads(), "steps": args.steps, "steps_per_s": args.steps / elapsed,
            "s_per_step": elapsed / args.steps, "peak_gib": peak / 2**30, "g_params_m": count(solver.generator) / 1e6,
            "d_params_m": count(solver.discriminator) / 1e6, "finite": all(v == v for v in losses.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(PAPER_CONFIGS), metavar="NAME|PATH",
                        help="d2m-train configs (default: the four paper configs)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (cuda when present)")
    parser.add_argument("--batch", type=int, help="default: 16 on CUDA (the paper's), 1 on CPU")
    parser.add_argument("--steps", type=int, help="timed steps (default: 20 on CUDA, 2 on CPU)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: torch default)")
    parser.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:  # the child process
        print(json.dumps(child(args)))
        return
    import torch

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = "cuda" if cuda else "cpu"
    batch = args.batch or (16 if cuda else 1)
    steps = args.steps or (20 if cuda else 2)
    print(f"{'config':12} {'level':6} {'device':8} {'amp':15} {'batch':>5} {'thr':>3} {'steps/s':>8} {'s/step':>7} "
          f"{'peak GiB':>8} {'G M':>7} {'D M':>6}")
    for config in args.configs:
        command = [sys.executable, __file__, "--config", config, "--device", device, "--batch", str(batch),
                   "--steps", str(steps), "--warmup", str(args.warmup), "--threads", str(args.threads),
                   "--amp", args.amp]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{config}: failed\n{done.stderr[-2000:]}")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{r['config']:12} {r['level']:6} {r['device']:8} {r['amp']:15} {r['batch']:>5} {r['threads']:>3} "
              f"{r['steps_per_s']:>8.3f} {r['s_per_step']:>7.2f} {r['peak_gib']:>8.2f} {r['g_params_m']:>7.2f} "
              f"{r['d_params_m']:>6.2f}" + ("" if r["finite"] else "  NON-FINITE LOSS"))


if __name__ == "__main__":
    main()
