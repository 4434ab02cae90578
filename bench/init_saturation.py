"""How saturated each paper config's generator starts: the share of its pre-sigma outputs with |tanh| > 0.99 at
initialisation (where tanh passes almost no gradient), per generator normalisation, batch size and seed.

    .venv/bin/python bench/init_saturation.py                          # the four paper configs, batch 4 and 16
    .venv/bin/python bench/init_saturation.py --configs aist_low --batches 8 --norms none batch weight

Inputs are unit-normal motion and visual features of each config's shapes (the generator is in training mode, so
BatchNorm uses the batch's statistics, as at the first step). The solver logs the same share at step 0 of a run
(``train.max_init_saturation``); ``tests/test_d2m_models.py`` asserts the defaults stay below 5 % at batch 4.
A few minutes on 2 cores (full-size generators).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAPER_CONFIGS = ("aist_low", "tiktok_low", "aist_high", "tiktok_high")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(PAPER_CONFIGS))
    parser.add_argument("--norms", nargs="+", default=["default", "batch"],
                        help="default: the config's own model.generator.norm; or none, batch, weight")
    parser.add_argument("--batches", nargs="+", type=int, default=[4, 16])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()

    import torch

    from d2m_train.builders import get_generator
    from d2m_train.config import load_config
    from d2m_train.data.segments import MOTION_SHAPES, VISUAL_SHAPE
    from d2m_train.models.generator import tanh_saturation

    print(f"{'config':<12} {'norm':<15} " + "  ".join(f"{f'batch {b} seed {s}':>16}" for b in args.batches
                                                          for s in args.seeds))
    for name in args.configs:
        for norm in args.norms:
            cfg = load_config(name, [] if norm == "default" else [f"model.generator.norm={norm}"])
            shares = []
            for batch in args.batches:
                for seed in args.seeds:
                    torch.manual_seed(seed)
                    generator = get_generator(cfg).train()
                    frames, joint_dim = MOTION_SHAPES[cfg.data.dataset]
                    with torch.no_grad(), tanh_saturation(generator.vq_generator) as measured:
                        generator(motion=torch.randn(batch, frames, joint_dim),
                                  video=torch.randn(batch, *VISUAL_SHAPE))
                    shares.append(measured[0])
            label = cfg.model.generator.norm + (" (default)" if norm == "default" else "")
            print(f"{name:<12} {label:<15} " + "  ".join(f"{100 * share:14.1f} %" for share in shares), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
