"""Thermodynamics: time series and distributions of potential energy, kinetic
energy and temperature, and the drift of the conserved energy.

Series come from the run's thermo log when present (every logged step), else
from the frames (potential energy stored with each frame; kinetic energy and
temperature only from stored velocities, never from finite differences, which
bias them low). Energies in eV, time in ps, temperature in K.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from systems.units import TIME_PER_PS, kB

from .run_data import RunData


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


def thermo_series(run: RunData) -> ThermoSeries:
    """The run's thermodynamic series, from its log if it has one, else from its frames."""
    log = run.log
    if log is not None and log.get("time_ps") is not None and len(log) > 0:
        conserved = log.get("conserved_eV")
        if conserved is None:
            conserved = log.get("etot_eV")
        return ThermoSeries(log.get("time_ps"), log.get("epot_eV"), log.get("ekin_eV"), log.get("temperature_K"),
                            conserved, "log", run.n_atoms)
    epot = run.energies_eV
    ekin = temp = None
    if run.velocities is not None:
        v = run.velocities / TIME_PER_PS  # Å per ASE time unit
        ekin = 0.5 * np.einsum("n,tni->t", run.masses, v * v)
        dof = max(3 * run.n_atoms - 3, 1) if run.n_atoms > 1 else 3
        temp = 2.0 * ekin / (dof * kB)
    conserved = epot + ekin if epot is not None and ekin is not None else None
    return ThermoSeries(run.times_ps, epot, ekin, temp, conserved, "frames", run.n_atoms)


@dataclass
class ThermoSummary:
    """Mean and standard deviation of each series, and the conserved-energy drift."""

    stats: dict = field(default_factory=dict)
    drift_eV_per_atom_per_ns: float | None = None
    max_deviation_eV_per_atom: float | None = None
    source: str = "frames"

    def to_json(self) -> dict:
        return {"source": self.source, "stats": self.stats, "drift_eV_per_atom_per_ns": self.drift_eV_per_atom_per_ns,
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
            stats[name] = {"mean": float(values.mean()), "std": float(values.std()), "n": int(len(values))}
    drift = dev = None
    if series.conserved_eV is not None:
        drift, dev = energy_drift(series.time_ps, series.conserved_eV, series.n_atoms)
    return ThermoSummary(stats, drift, dev, series.source)
