"""Model-agnostic training loop (Adam, plateau schedule, early stopping, resume, torchrun DDP)."""

from surrogate.training.distributed import DistributedContext, init_distributed, shutdown_distributed
from surrogate.training.trainer import TrainConfig, Trainer, move_to_device, unwrap_model

__all__ = [
    "DistributedContext",
    "TrainConfig",
    "Trainer",
    "init_distributed",
    "move_to_device",
    "shutdown_distributed",
    "unwrap_model",
]
