"""The EGNN paper's charged N-body reproduction: data generation and the direct-prediction EGNN."""

from surrogate.nbody.data import (
    FRAME_IN,
    FRAME_OUT,
    ChargedNBodySetup,
    NBodyDataset,
    NBodyTrajectories,
    simulate_charged_nbody,
)
from surrogate.nbody.model import NBodyEGNN, load_nbody_model, nbody_mse_loss, save_nbody_model

__all__ = [
    "FRAME_IN",
    "FRAME_OUT",
    "ChargedNBodySetup",
    "NBodyDataset",
    "NBodyEGNN",
    "NBodyTrajectories",
    "load_nbody_model",
    "nbody_mse_loss",
    "save_nbody_model",
    "simulate_charged_nbody",
]
