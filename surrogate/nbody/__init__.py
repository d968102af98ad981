"""The EGNN paper's charged N-body reproduction: data generation, the direct-prediction EGNN and its training loop."""

from surrogate.nbody.data import (
    FRAME_IN,
    FRAME_OUT,
    ChargedNBodySetup,
    NBodyDataset,
    NBodyTrajectories,
    simulate_charged_nbody,
)
from surrogate.nbody.model import NBodyEGNN, load_nbody_model, nbody_mse_loss, save_nbody_model
from surrogate.nbody.train import NBodyTrainConfig, train_nbody

__all__ = [
    "FRAME_IN",
    "FRAME_OUT",
    "ChargedNBodySetup",
    "NBodyDataset",
    "NBodyEGNN",
    "NBodyTrainConfig",
    "NBodyTrajectories",
    "load_nbody_model",
    "nbody_mse_loss",
    "save_nbody_model",
    "simulate_charged_nbody",
    "train_nbody",
]
