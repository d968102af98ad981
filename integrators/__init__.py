"""Integrators (velocity Verlet, Langevin BAOAB, Bussi, Metropolis MC), the
driver and its reporters. Imports only ``systems``.

The names below are imported on first use (PEP 562), so that ``from
integrators.runaway import RunawayError`` does not compile Numba kernels.
"""

from __future__ import annotations

from systems.lazy_exports import lazy_exports

#: Public name -> the submodule that defines it.
_EXPORTS = {
    "AseCalculatorProvider": ".ase_provider", "Bussi": ".bussi",
    "NPT": ".npt", "CRescaleBarostat": ".barostat_crescale", "MonteCarloBarostat": ".barostat_mc",
    "Constraints": ".constraints", "ConstraintError": ".constraints",
    "load_checkpoint": ".checkpoint", "save_checkpoint": ".checkpoint",
    "LangevinBAOAB": ".langevin", "MetropolisMC": ".monte_carlo",
    "DelayedAcceptanceMC": ".delayed_acceptance", "NestedMC": ".nested_mc",
    "ForceProvider": ".protocols", "Integrator": ".protocols",
    "CheckpointReporter": ".reporters", "ProgressReporter": ".reporters", "Reporter": ".reporters",
    "ReportRequest": ".reporters", "Snapshot": ".reporters", "ThermoLogReporter": ".reporters",
    "TrajectoryReporter": ".reporters",
    "RunawayError": ".runaway", "RunawayGuard": ".runaway",
    "Simulation": ".simulation", "VelocityVerlet": ".verlet",
    "BatchForceProvider": ".protocols", "BatchedSimulation": ".batched_simulation", "Lockstep": ".lockstep",
    "ReplicaError": ".lockstep", "ProviderLoop": ".provider_loop",
}

__all__ = [
    "ForceProvider", "Integrator", "AseCalculatorProvider",
    "VelocityVerlet", "LangevinBAOAB", "Bussi", "MetropolisMC", "NPT", "CRescaleBarostat", "MonteCarloBarostat",
    "DelayedAcceptanceMC", "NestedMC",
    "Constraints", "ConstraintError",
    "Simulation", "Reporter", "ReportRequest", "Snapshot",
    "TrajectoryReporter", "ThermoLogReporter", "ProgressReporter", "CheckpointReporter",
    "RunawayGuard", "RunawayError", "save_checkpoint", "load_checkpoint",
    "BatchForceProvider", "BatchedSimulation", "Lockstep", "ReplicaError", "ProviderLoop",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
