"""PyTorch distributed data parallel, as ``torchrun`` sets it up.

``torchrun --nproc_per_node=N recipes/pretrain.py ...`` starts N copies of a recipe with
``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their
environment; :func:`init` joins them into one process group (NCCL on GPUs, gloo on CPUs).
Every rank trains on its own share of each step's batches and DDP averages the gradients;
rank 0 alone writes checkpoints, metrics, logs and results.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from asrtl.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    """Where this process stands: ``rank`` of ``size``, ``local_rank`` on its node."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def world() -> World:
    """This process's place, from ``torchrun``'s environment (one process without it)."""
    return World(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                 int(os.environ.get("LOCAL_RANK", "0")))


def is_main() -> bool:
    """Rank 0 (or no distributed run): the process that writes."""
    return world().main


def init(device: torch.device) -> World:
    """Joins the process group when ``WORLD_SIZE`` > 1 (idempotent); quiets the logs of
    ranks other than 0.

    Raises:
        ValueError: a GPU device under torchrun on a node with fewer GPUs than processes.
    """
    w = world()
    if w.size == 1 or dist.is_initialized():
        return w
    if device.type == "cuda":
        if w.local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK={w.local_rank} but only {torch.cuda.device_count()} "
                            f"GPU(s) on this node: use --nproc_per_node <= the GPU count")
        torch.cuda.set_device(w.local_rank)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not w.main:
        logging.getLogger().setLevel(logging.WARNING)
    return w


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, ``cuda`` means this process's GPU (``cuda:LOCAL_RANK``)."""
    if device.type == "cuda" and device.index is None and world().size > 1:
        return torch.device("cuda", world().local_rank)
    return device


def mean(value: float, device: torch.device) -> float:
    """``value`` averaged over the ranks (itself in one process)."""
    if not dist.is_initialized():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (builds a corpus into the shared cache, say), the others
    after it (and find it built)."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def finish() -> None:
    """Leaves the process group (if any)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def sync_batchnorm(model: torch.nn.Module, world: World, device: torch.device) -> int:
    """Turns every batch norm of ``model`` into a :class:`torch.nn.SyncBatchNorm` (statistics
    over all ranks' batches), in place, when training on several GPUs; torch implements it
    for GPUs only, so a CPU or one-process run keeps its batch norms and says so.

    Returns:
        How many batch norms were converted.
    """
    norms = [n for n, m in model.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if world.size < 2 or device.type != "cuda":
        log.warning("train.sync_batchnorm: ignored (%s); it needs torchrun on several GPUs",
                    "one process" if world.size < 2 else f"device {device.type}")
        return 0
    torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # in place below a non-norm root
    log.info("train.sync_batchnorm: %d batch norm(s) synchronised over %d GPUs", len(norms),
             world.size)
    return len(norms)


def wrap(forward: torch.nn.Module, model: torch.nn.Module, world: World,
         device: torch.device) -> torch.nn.Module:
    """``forward`` (the model, or its compiled form) in DDP under torchrun, else itself. Wrap
    again whenever what trains changes: DDP reduces the gradients of the parameters that
    trained when it was built. A multilingual ``model`` trains one head a batch, so the
    others are found unused."""
    if world.size < 2:
        return forward
    return torch.nn.parallel.DistributedDataParallel(
        forward, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=len(getattr(model, "heads", {})) > 1)
