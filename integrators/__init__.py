"""Integrators (velocity Verlet, Langevin BAOAB, Bussi, Metropolis MC), the
driver and its reporters. Imports only ``systems``."""

from .ase_provider import AseCalculatorProvider
from .bussi import Bussi
from .checkpoint import load_checkpoint, save_checkpoint
from .langevin import LangevinBAOAB
from .monte_carlo import MetropolisMC
from .protocols import ForceProvider, Integrator
from .reporters import (
    CheckpointReporter,
    ProgressReporter,
    Reporter,
    ReportRequest,
    Snapshot,
    ThermoLogReporter,
    TrajectoryReporter,
)
from .runaway import RunawayError, RunawayGuard
from .simulation import Simulation
from .verlet import VelocityVerlet

__all__ = [
    "ForceProvider", "Integrator", "AseCalculatorProvider",
    "VelocityVerlet", "LangevinBAOAB", "Bussi", "MetropolisMC",
    "Simulation", "Reporter", "ReportRequest", "Snapshot",
    "TrajectoryReporter", "ThermoLogReporter", "ProgressReporter", "CheckpointReporter",
    "RunawayGuard", "RunawayError", "save_checkpoint", "load_checkpoint",
]
