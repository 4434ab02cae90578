"""Multi-GPU training with ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m d2m_train.cli fit ...`` sets WORLD_SIZE/RANK/LOCAL_RANK; ``from_torchrun_env``
reads them once, at start-up, and everything else receives a ``DistInfo``. Without torchrun the world size is 1
and nothing is wrapped. Each rank reads its own shard of every epoch (``EpochBatchSampler``), so
``train.batch_size`` is per GPU; only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import dataclasses
import logging
import os

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    ddp: bool = False  # wrap in DDP (true whenever world_size > 1; a test may force it at world size 1)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_torchrun_env() -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world, ddp=True)


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """Join the torchrun group (env:// rendezvous) unless one is already initialised."""
    if info.ddp and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=info.rank,
                                world_size=info.world_size)


def wrap(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP around ``module`` or ``module`` itself. On GPUs BatchNorm is synchronised across ranks (SyncBatchNorm);
    on CPU (gloo) PyTorch has no SyncBatchNorm, so each rank normalises by its own batch and DDP hands rank 0's
    running statistics to every rank at each forward."""
    if not info.ddp:
        return module
    from torch.nn.parallel import DistributedDataParallel

    if info.world_size > 1 and device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    elif info.world_size > 1 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        logger.info("%s: BatchNorm keeps per-rank batch statistics on %s (SyncBatchNorm needs GPUs)",
                    type(module).__name__, device)
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def barrier(info: DistInfo) -> None:
    if info.ddp and dist.is_initialized():
        dist.barrier()
