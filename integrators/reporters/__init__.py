"""Reporters: trajectory, thermodynamic log, progress bar, checkpoints."""

from .base import FIELDS, IntervalReporter, Reporter, ReportRequest, Snapshot
from .checkpointer import CheckpointReporter
from .progress import ProgressReporter
from .thermo_log import ThermoLogReporter
from .trajectory import TrajectoryReporter

__all__ = ["Reporter", "ReportRequest", "Snapshot", "IntervalReporter", "FIELDS", "TrajectoryReporter",
           "ThermoLogReporter", "ProgressReporter", "CheckpointReporter"]
