"""Our runs as ``physical_validation`` data (P. T. Merz and M. R. Shirts, PLoS ONE 13, e0202764 (2018)).

``physical_validation`` (the test extra) checks the kinetic-energy
distribution of a thermostat, the Boltzmann ratio of potential-energy
distributions at two temperatures, and the dt² convergence of a symplectic
integrator's conserved energy. This module samples an integrator and hands
the series over in that package's units (GROMACS': kJ/mol, nm, K, ps); the
number of degrees of freedom is the integrator's own
(``integrator.degrees_of_freedom``, the one rule of :mod:`systems.state`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from ase import units as ase_units

from systems import units
from systems.state import System

#: kJ/mol per eV.
KJ_PER_MOL_PER_EV = ase_units.mol / ase_units.kJ
#: ps per ASE time unit.
PS_PER_TIME = 1.0 / (1000.0 * units.fs)
#: bar per eV/Å³.
BAR_PER_EV_A3 = 1.0 / ase_units.bar


class Samples(NamedTuple):
    """Series of a run, one value per sample (eV): kinetic, potential, conserved (E − heat)."""

    kinetic: np.ndarray
    potential: np.ndarray
    conserved: np.ndarray
    degrees_of_freedom: int
    volume: float  # Å³
    n_atoms: int


def sample(integrator, system: System, n_steps: int, interval: int = 1) -> Samples:
    """Step ``integrator`` ``n_steps`` times, recording every ``interval``-th state (eV)."""
    if integrator.last_result is None:
        integrator.initialize(system)
    kinetic, potential, conserved = [], [], []
    for step in range(1, int(n_steps) + 1):
        integrator.step(system)
        if step % interval == 0:
            ekin, epot = system.kinetic_energy(), float(integrator.last_result.energy)
            kinetic.append(ekin)
            potential.append(epot)
            conserved.append(integrator.conserved_energy(epot, ekin))
    return Samples(np.array(kinetic), np.array(potential), np.array(conserved),
                   int(integrator.degrees_of_freedom(system)), float(system.volume), system.n_atoms)


def unit_data():
    """``physical_validation.data.UnitData`` of our units: eV, Å, Å³, K, eV/Å³, ASE time."""
    import physical_validation as pv

    return pv.data.UnitData(kb=units.kB, energy_conversion=KJ_PER_MOL_PER_EV, length_conversion=0.1,
                            volume_conversion=1e-3, temperature_conversion=1.0, pressure_conversion=BAR_PER_EV_A3,
                            time_conversion=PS_PER_TIME, energy_str="eV", length_str="Å", volume_str="Å^3",
                            temperature_str="K", pressure_str="eV/Å^3", time_str="ASE time")


def nvt_data(samples: Samples, temperature_K: float):
    """``SimulationData`` of an NVT run at ``temperature_K``: kinetic, potential and total energies (eV)."""
    import physical_validation as pv

    n = samples.n_atoms
    system = pv.data.SystemData(natoms=n, nconstraints=3 * n - samples.degrees_of_freedom, ndof_reduction_tra=0,
                                ndof_reduction_rot=0)
    ensemble = pv.data.EnsembleData("NVT", natoms=n, volume=samples.volume, temperature=float(temperature_K))
    observables = pv.data.ObservableData(kinetic_energy=samples.kinetic, potential_energy=samples.potential,
                                         total_energy=samples.kinetic + samples.potential,
                                         constant_of_motion=samples.conserved)
    return pv.data.SimulationData(units=unit_data(), system=system, ensemble=ensemble, observables=observables)


def nve_data(samples: Samples, timestep: float):
    """``SimulationData`` of an NVE run with ``timestep`` (ASE time) for ``integrator.convergence``."""
    import physical_validation as pv

    observables = pv.data.ObservableData(constant_of_motion=samples.conserved)
    return pv.data.SimulationData(units=unit_data(), dt=float(timestep), observables=observables)


def convergence_order(timesteps, conserved_std) -> float:
    """Measured order p of the conserved-energy fluctuations, std ∝ Δ^p, from a log–log fit."""
    return float(np.polyfit(np.log(np.asarray(timesteps, float)), np.log(np.asarray(conserved_std, float)), 1)[0])
