"""Thermodynamics: time series and distributions of potential energy, kinetic
energy and temperature, and the drift of the conserved energy.

Series come from the run's thermo log when present (every logged step), else
from the frames (potential energy stored with each frame; kinetic energy and
temperature only from stored velocities, never from finite differences, which
bias them low). Energies in eV, time in ps, temperature in K.

Temperatures of all compared runs use one degrees-of-freedom rule
(:func:`temperature_rule`): T = 2 E_kin / (N_f k_B) with
N_f = ``systems.state.degrees_of_freedom(n, com_fixed)`` and one ``com_fixed``
for every file, recomputed from the kinetic energy (the logged temperature of
each run used its own integrator's rule: 3N for Langevin, 3N − 3 for Verlet
with the centre of mass at rest). Means carry block-averaging errors
(:mod:`.uncertainty`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from systems.state import degrees_of_freedom
from systems.units import TIME_PER_PS, kB

from .run_data import RunData
from .uncertainty import mean_and_error, slope_and_error

#: Integrators (``run_info.json`` "integrator") that exchange energy with a bath: no conserved energy to judge.
THERMOSTATTED = {"LangevinBAOAB": "Langevin", "Bussi": "Bussi velocity rescaling", "MetropolisMC": "Monte Carlo"}
#: The centre of mass counts as at rest below this fraction of the kinetic energy (frames store ~10 digits).
COM_REST_FRACTION = 1e-6


def thermostat_of(run: RunData) -> str | None:
    """The thermostat a run's metadata names (``thermostat``, or a thermostatted ``integrator``), else None."""
    info = run.info or {}
    if info.get("thermostat"):
        return str(info["thermostat"])
    return THERMOSTATTED.get(str(info.get("integrator")))


def com_at_rest(run: RunData) -> bool | None:
    """Whether the run's centre of mass is at rest: from the first frame's velocities, else from its
    integrator (Langevin moves it); None when neither tells."""
    if run.velocities is not None and run.n_frames:
        v = run.velocities[0]
        momentum = run.masses @ v
        com_kinetic = 0.5 * float(momentum @ momentum) / float(run.masses.sum())
        kinetic = 0.5 * float(np.einsum("n,ni->", run.masses, v * v))
        return com_kinetic <= COM_REST_FRACTION * max(kinetic, 1e-300)
    integrator = (run.info or {}).get("integrator")
    if integrator == "LangevinBAOAB":
        return False
    return None


def temperature_rule(runs: list) -> tuple[bool, str]:
    """One ``com_fixed`` for every compared run, and why: True (3N − 3) only when no run's centre of
    mass moves and at least one run shows it at rest; otherwise False (3N)."""
    states = {r.name: com_at_rest(r) for r in runs}
    moving = [name for name, s in states.items() if s is False]
    if moving:
        return False, f"3N for every run: the centre of mass moves in {', '.join(moving)}"
    if any(s is True for s in states.values()):
        return True, "3N − 3 for every run: the centre of mass is at rest (fixed) in every run that shows it"
    return False, "3N for every run: no run tells whether its centre of mass is fixed"


@dataclass
class ThermoSeries:
    """Per-sample arrays (each [m] or None) and where they came from ("log" or "frames")."""

    time_ps: np.ndarray
    epot_eV: np.ndarray | None = None
    ekin_eV: np.ndarray | None = None
    temperature_K: np.ndarray | None = None
    conserved_eV: np.ndarray | None = None
    source: str = "frames"
    n_atoms: int = 1

    def quantities(self) -> dict:
        """Named series available for distributions: per-atom energies and temperature."""
        out = {}
        if self.epot_eV is not None:
            out["epot_per_atom_eV"] = self.epot_eV / self.n_atoms
        if self.ekin_eV is not None:
            out["ekin_per_atom_eV"] = self.ekin_eV / self.n_atoms
        if self.temperature_K is not None:
            out["temperature_K"] = self.temperature_K
        return out


def thermo_series(run: RunData, com_fixed: bool = True) -> ThermoSeries:
    """The run's thermodynamic series, from its log if it has one, else from its frames.

    The temperature is 2 E_kin / (N_f k_B) with N_f = ``degrees_of_freedom(n, com_fixed=com_fixed)``
    (a log without a kinetic-energy column keeps its logged temperature).
    """
    dof = degrees_of_freedom(run.n_atoms, com_fixed=com_fixed)
    log = run.log
    if log is not None and log.get("time_ps") is not None and len(log) > 0:
        conserved = log.get("conserved_eV")
        if conserved is None:
            conserved = log.get("etot_eV")
        ekin = log.get("ekin_eV")
        temp = 2.0 * ekin / (dof * kB) if ekin is not None else log.get("temperature_K")
        return ThermoSeries(log.get("time_ps"), log.get("epot_eV"), ekin, temp, conserved, "log", run.n_atoms)
    epot = run.energies_eV
    ekin = temp = None
    if run.velocities is not None:
        v = run.velocities / TIME_PER_PS  # Å per ASE time unit
        ekin = 0.5 * np.einsum("n,tni->t", run.masses, v * v)
        temp = 2.0 * ekin / (dof * kB)
    conserved = epot + ekin if epot is not None and ekin is not None else None
    return ThermoSeries(run.times_ps, epot, ekin, temp, conserved, "frames", run.n_atoms)


@dataclass
class ThermoSummary:
    """Mean, standard deviation and block-averaging error of the mean of each series, and the
    conserved-energy drift with its error (eV/atom/ns, the same number as meV/atom/ps)."""

    stats: dict = field(default_factory=dict)
    drift_eV_per_atom_per_ns: float | None = None
    max_deviation_eV_per_atom: float | None = None
    source: str = "frames"
    drift_error_eV_per_atom_per_ns: float | None = None

    def to_json(self) -> dict:
        return {"source": self.source, "stats": self.stats, "drift_eV_per_atom_per_ns": self.drift_eV_per_atom_per_ns,
                "drift_error_eV_per_atom_per_ns": self.drift_error_eV_per_atom_per_ns,
                "max_conserved_deviation_eV_per_atom": self.max_deviation_eV_per_atom}


def energy_drift(time_ps: np.ndarray, conserved_eV: np.ndarray, n_atoms: int) -> tuple[float, float]:
    """Slope of a straight-line fit of the conserved energy, in eV/atom/ns, and
    the largest |E(t) − E(0)| per atom in eV."""
    ok = np.isfinite(conserved_eV) & np.isfinite(time_ps)
    t, e = time_ps[ok], conserved_eV[ok]
    if len(t) < 2 or np.ptp(t) == 0:
        return float("nan"), float("nan")
    slope = np.polyfit(t, e, 1)[0]  # eV/ps
    return float(slope * 1000.0 / n_atoms), float(np.max(np.abs(e - e[0])) / n_atoms)


def summarize(series: ThermoSeries) -> ThermoSummary:
    stats = {}
    for name, values in series.quantities().items():
        values = values[np.isfinite(values)]
        if len(values):
            mean, error = mean_and_error(values)
            stats[name] = {"mean": mean, "std": float(values.std()), "error": error, "n": int(len(values))}
    drift = dev = error = None
    if series.conserved_eV is not None:
        drift, dev = energy_drift(series.time_ps, series.conserved_eV, series.n_atoms)
        _, error = slope_and_error(series.time_ps, series.conserved_eV)
        error = error * 1000.0 / series.n_atoms
    return ThermoSummary(stats, drift, dev, series.source, error)
