"""torch.distributed set-up for data-parallel training launched by ``torchrun``.

``torchrun --nproc-per-node K script.py`` starts K processes and sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each. When
``WORLD_SIZE`` is greater than one, :func:`init_distributed` joins the process group
(gloo on CPU, nccl on CUDA); otherwise it returns a single-process context and
touches nothing.

The process group is created once per process and destroyed at exit: torch's
``env://`` rendezvous cannot be repeated inside one torchrun worker (a second
``init_process_group`` after ``destroy_process_group`` hangs), so several
trainers run one after another in the same script share the group.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from systems.errors import InputError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly single-process) run.

    Attributes
    ----------
    rank : int
        Global rank, 0..world_size-1.
    local_rank : int
        Rank on this node (selects the GPU).
    world_size : int
        Number of processes.
    device : torch.device
        Device this process trains on.
    owns_group : bool
        True when :func:`init_distributed` created the process group.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes files and shows progress."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise InputError(f"environment variable {name}={value!r} is not an integer") from exc


def init_distributed(device: str = "cpu") -> DistributedContext:
    """Join the torchrun process group if ``WORLD_SIZE`` > 1.

    Parameters
    ----------
    device : str
        ``"cpu"`` or ``"cuda"``/``"cuda:N"``. Under torchrun with CUDA each process
        takes ``cuda:LOCAL_RANK`` and the backend is nccl; on CPU it is gloo.

    Returns
    -------
    DistributedContext
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    wants_cuda = str(device).startswith("cuda")
    if wants_cuda and not torch.cuda.is_available():
        raise InputError(f"device={device!r} requested but CUDA is not available")
    if world_size <= 1:
        return DistributedContext(device=torch.device(device))
    if wants_cuda:
        torch.cuda.set_device(local_rank)
        torch_device = torch.device("cuda", local_rank)
    else:
        torch_device = torch.device("cpu")
    owns_group = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if wants_cuda else "gloo")
        atexit.register(_destroy_at_exit)
        owns_group = True
    if dist.get_world_size() != world_size or dist.get_rank() != rank:
        raise RuntimeError(
            f"process group (rank {dist.get_rank()} of {dist.get_world_size()}) disagrees with "
            f"RANK={rank}, WORLD_SIZE={world_size}"
        )
    return DistributedContext(rank=rank, local_rank=local_rank, world_size=world_size, device=torch_device,
                              owns_group=owns_group)


def _destroy_at_exit() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shutdown_distributed(context: DistributedContext) -> None:
    """Destroy the process group now (it is otherwise destroyed at exit).

    Only for the end of a script: no process group can be created again in this
    torchrun worker afterwards.
    """
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum a float64 tensor over all ranks (identity in a single process)."""
    if not context.is_distributed:
        return values
    # nccl needs the tensor on this rank's GPU; gloo works on CPU.
    reduced = values.to(context.device)
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced.cpu()


def barrier(context: DistributedContext) -> None:
    """Wait for every rank (no-op in a single process)."""
    if context.is_distributed:
        dist.barrier()
