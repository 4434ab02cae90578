"""Run checkpoints: ``RUN_DIR/checkpoints/step_{N:08d}.pt``, written atomically (temp file + rename), the last
``keep_last`` kept. Each holds every registered stateful object plus the RNG states, so a resumed run continues
bit-for-bit (on CPU; on CUDA with ``train.deterministic``)."""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import numpy as np
import torch

from d2m_train.vqvae.checkpoint import atomic_torch_save

_NAME = re.compile(r"^step_(\d{8})\.pt$")

logger = logging.getLogger(__name__)


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.match(p.name)), key=lambda p: int(_NAME.match(p.name)[1]))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def save_checkpoint(run_dir: str | Path, step: int, payload: dict, keep_last: int) -> Path:
    path = atomic_torch_save(payload, checkpoint_dir(run_dir) / f"step_{step:08d}.pt")
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)  # our own file: holds numpy/python RNG states


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        for device, saved in cuda_states_to_restore(state["cuda"], torch.cuda.device_count()).items():
            torch.cuda.set_rng_state(saved, device)


def cuda_states_to_restore(saved: list, gpus: int) -> dict[int, object]:
    """GPU -> the generator state to put back: the saved ones of the GPUs this machine has. A run saved on more GPUs
    than are here (or fewer) resumes; the GPUs without a saved state keep their seeding (logged)."""
    if len(saved) != gpus:
        logger.warning("the checkpoint holds the CUDA generator states of %d GPU(s), this machine has %d: the first "
                       "%d are restored", len(saved), gpus, min(len(saved), gpus))
    return {device: saved[device] for device in range(min(len(saved), gpus))}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
