"""Lennard-Jones argon NPT runs shared by the NPT tests and benchmarks: ours (C-rescale or MC barostat
around Langevin BAOAB) and OpenMM's MonteCarloBarostat on the same cut-and-shifted potential."""

from __future__ import annotations

import numpy as np

from systems import units
from systems.catalogue import liquid_argon
from systems.potentials import LennardJones
from systems.potentials.lennard_jones import ARGON_EPSILON, ARGON_SIGMA

TEMPERATURE_K = 94.4
PRESSURE_BAR = 1.0
#: Cutoff (Å): 2.5σ, energy shifted to zero there, no long-range correction (both engines).
CUTOFF = 2.5 * ARGON_SIGMA
TIMESTEP_FS = 10.0
FRICTION_PER_PS = 1.0
#: Start density (g/cm³), near the NPT mean of this potential so equilibration is short.
START_DENSITY = 1.23
#: Compressibility given to C-rescale (1/bar): this liquid's own (4.7e-4 from the volume variance of 400 ps
#: runs of 128 atoms), so the volume relaxes in ~tau_p.
ARGON_COMPRESSIBILITY_PER_BAR = 4.5e-4
G_CM3_PER_AMU_A3 = 1.66053906660


def start(n_atoms: int, seed: int = 0):
    """Unequilibrated liquid argon (System) of ``n_atoms`` at START_DENSITY and TEMPERATURE_K."""
    return liquid_argon(n_atoms, density_g_cm3=START_DENSITY, temperature_K=TEMPERATURE_K, seed=seed)


def density(volumes_a3, system) -> np.ndarray:
    """Densities (g/cm³) of ``system``'s atoms at volumes (Å³)."""
    return float(system.masses.sum()) * G_CM3_PER_AMU_A3 / np.asarray(volumes_a3, dtype=np.float64)


def make_barostat(kind: str, pressure_bar: float, seed: int, *, tau_p_fs: float = 1000.0, interval: int | None = None,
                  coupling: str = "isotropic", compressibility_per_bar: float = ARGON_COMPRESSIBILITY_PER_BAR,
                  step_fraction: float = 0.01, adapt_attempts: int = 200):
    """A C-rescale ('crescale') or Monte Carlo ('mc') barostat with this module's settings."""
    from integrators.barostat_crescale import CRescaleBarostat
    from integrators.barostat_mc import MonteCarloBarostat

    if kind == "crescale":
        return CRescaleBarostat(pressure_bar, tau_p_fs=tau_p_fs, compressibility_per_bar=compressibility_per_bar,
                                coupling=coupling, interval=interval or 10, seed=seed)
    if kind == "mc":
        return MonteCarloBarostat(pressure_bar, interval=interval or 25, step_fraction=step_fraction,
                                  adapt_attempts=adapt_attempts, seed=seed)
    raise ValueError(f"unknown barostat {kind!r}")


def run_ours(system, barostat: str = "crescale", *, n_equil: int, n_prod: int, every: int = 10, seed: int = 1,
             pressure_bar: float = PRESSURE_BAR, temperature_K: float = TEMPERATURE_K, thermostat: str = "langevin",
             timestep_fs: float = TIMESTEP_FS, friction_per_ps: float = FRICTION_PER_PS, **barostat_kwargs) -> dict:
    """NPT of ``system`` (a copy) with LennardJones.argon(CUTOFF); samples every ``every`` steps of production.

    Returns {"volume": Å³ [n], "kinetic": eV [n], "potential": eV [n], "ndof": int, "system": final System}.
    """
    from integrators import Bussi, LangevinBAOAB, Simulation
    from integrators.npt import NPT

    system = system.copy()
    potential = LennardJones.argon(cutoff=CUTOFF)
    if thermostat == "langevin":
        inner = LangevinBAOAB(potential, timestep_fs=timestep_fs, temperature_K=temperature_K,
                              friction_per_fs=friction_per_ps / 1000.0, seed=seed)
    else:
        inner = Bussi(potential, timestep_fs=timestep_fs, temperature_K=temperature_K, tau_fs=200.0, seed=seed)
    npt = NPT(inner, make_barostat(barostat, pressure_bar, seed + 1000, **barostat_kwargs))
    sim = Simulation(system, npt)
    sim.run(n_equil)
    n = n_prod // every
    out = {"volume": np.empty(n), "kinetic": np.empty(n), "potential": np.empty(n)}
    for k in range(n):
        sim.run(every)
        out["volume"][k] = system.volume
        out["kinetic"][k] = system.kinetic_energy()
        out["potential"][k] = npt.last_result.energy
    out["ndof"] = npt.degrees_of_freedom(system)
    out["system"] = system
    out["npt"] = npt
    return out


def run_openmm(system, *, n_equil: int, n_prod: int, every: int = 10, seed: int = 1,
               pressure_bar: float = PRESSURE_BAR, temperature_K: float = TEMPERATURE_K, barostat_interval: int = 25
               ) -> dict:
    """The same NPT in OpenMM (CPU platform, one thread): LangevinMiddleIntegrator and MonteCarloBarostat
    (a move every ``barostat_interval`` steps), LJ as a CustomNonbondedForce cut at CUTOFF and shifted, no dispersion correction.

    Returns {"volume": Å³ [n]}.
    """
    import openmm
    from openmm import unit

    n = system.n_atoms
    omm = openmm.System()
    for m in system.masses:
        omm.addParticle(float(m))
    eps_kj = ARGON_EPSILON * units.KJ_MOL_PER_EV
    sig_nm, rc_nm = ARGON_SIGMA / 10.0, CUTOFF / 10.0
    shift = 4.0 * eps_kj * ((sig_nm / rc_nm) ** 12 - (sig_nm / rc_nm) ** 6)
    force = openmm.CustomNonbondedForce(f"4*{eps_kj!r}*((({sig_nm!r}/r)^12)-(({sig_nm!r}/r)^6))-{shift!r}")
    force.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(rc_nm)
    force.setUseLongRangeCorrection(False)
    force.setUseSwitchingFunction(False)
    for _ in range(n):
        force.addParticle([])
    omm.addForce(force)
    cell_nm = system.cell / 10.0
    omm.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in cell_nm))
    barostat = openmm.MonteCarloBarostat(pressure_bar * unit.bar, temperature_K * unit.kelvin, barostat_interval)
    barostat.setRandomNumberSeed(seed + 7)
    omm.addForce(barostat)
    integrator = openmm.LangevinMiddleIntegrator(temperature_K * unit.kelvin, FRICTION_PER_PS / unit.picosecond,
                                                 TIMESTEP_FS * unit.femtoseconds)
    integrator.setRandomNumberSeed(seed + 11)
    platform = openmm.Platform.getPlatformByName("CPU")
    context = openmm.Context(omm, integrator, platform, {"Threads": "1"})
    context.setPositions(system.positions / 10.0)
    context.setVelocities(system.velocities * units.fs * 100.0)  # Å/fs -> nm/ps
    integrator.step(n_equil)
    n_samples = n_prod // every
    volumes = np.empty(n_samples)
    for k in range(n_samples):
        integrator.step(every)
        box = context.getState().getPeriodicBoxVolume().value_in_unit(unit.nanometer ** 3)
        volumes[k] = box * 1000.0
    return {"volume": volumes}


def pv_data(out: dict, *, pressure_bar: float, temperature_K: float, n_atoms: int, com_fixed: bool):
    """A ``physical_validation.data.SimulationData`` (GROMACS units: kJ/mol, nm³, bar) of an NPT run from
    :func:`run_ours` output (kinetic, potential energies eV and volumes Å³)."""
    import physical_validation as pv

    kj = units.KJ_MOL_PER_EV
    return pv.data.SimulationData(
        units=pv.data.UnitData.units("GROMACS"),
        ensemble=pv.data.EnsembleData("NPT", natoms=n_atoms, pressure=pressure_bar, temperature=temperature_K),
        system=pv.data.SystemData(natoms=n_atoms, nconstraints=0, ndof_reduction_tra=3 if com_fixed else 0,
                                  ndof_reduction_rot=0),
        observables=pv.data.ObservableData(kinetic_energy=out["kinetic"] * kj, potential_energy=out["potential"] * kj,
                                           total_energy=(out["kinetic"] + out["potential"]) * kj,
                                           volume=out["volume"] * 1.0e-3),
    )


#: The dilute argon gas of the volume ensemble check: 300 K and 50 bar (ideal-gas density 1.2e-3 Å⁻³; the
#: virial correction is a few %). Its volume decorrelates within a few barostat moves, where the liquid's takes
#: ~2 ps of structural relaxation, so a thousand independent volumes cost seconds rather than nanoseconds.
GAS_TEMPERATURE_K = 300.0
GAS_PRESSURE_BAR = 50.0
GAS_TIMESTEP_FS = 5.0
#: Langevin friction of the gas runs (1/ps): a gas's pressure is mostly kinetic, so under C-rescale its volume
#: follows the kinetic energy, which decorrelates at this rate.
GAS_FRICTION_PER_PS = 10.0


def gas_start(n_atoms: int, seed: int = 0):
    """Argon gas of ``n_atoms`` at the ideal-gas density of GAS_PRESSURE_BAR and GAS_TEMPERATURE_K."""
    number_density = GAS_PRESSURE_BAR * units.bar / (units.kB * GAS_TEMPERATURE_K)  # 1/Å³
    mass_g_cm3 = number_density * 39.948 * G_CM3_PER_AMU_A3
    return liquid_argon(n_atoms, density_g_cm3=mass_g_cm3, temperature_K=GAS_TEMPERATURE_K, seed=seed)


def kinetic_energy_check(n_atoms: int = 64, *, barostat: str = "crescale", n_equil: int = 1000, n_prod: int = 4000,
                         seed: int = 3, verbosity: int = 0, **barostat_kwargs) -> tuple[float, float]:
    """physical_validation's kinetic-energy distribution check (mean and width) of liquid argon under NPT, in
    standard errors of T(μ) and T(σ) from the target."""
    import physical_validation as pv

    out = run_ours(start(n_atoms, seed=seed), barostat, n_equil=n_equil, n_prod=n_prod, every=5, seed=seed,
                   **barostat_kwargs)
    data = pv_data(out, pressure_bar=PRESSURE_BAR, temperature_K=TEMPERATURE_K, n_atoms=n_atoms,
                   com_fixed=out["ndof"] < 3 * n_atoms)
    result = pv.kinetic_energy.distribution(data, strict=False, verbosity=verbosity, bootstrap_seed=seed)
    return tuple(float(x) for x in result)


def volume_ensemble_check(n_atoms: int = 64, *, barostat: str = "mc", n_equil: int = 1000, n_prod: int = 6000,
                          seed: int = 3, verbosity: int = 0, **barostat_kwargs) -> list[float]:
    """physical_validation's ensemble check of the volume distributions of two NPT runs of the argon gas at
    GAS_PRESSURE_BAR and GAS_PRESSURE_BAR + ΔP (ΔP = 2k_BT/σ_V, its rule of thumb, with σ_V = V/√N), same
    temperature; quantiles off the analytical ratio exp(−βΔP V). Both runs start from one equilibrated state."""
    import physical_validation as pv

    system = gas_start(n_atoms, seed=seed)
    volume = system.volume
    dp_bar = 2.0 * units.kB * GAS_TEMPERATURE_K / (volume / np.sqrt(n_atoms)) / units.bar
    pressures = (GAS_PRESSURE_BAR, GAS_PRESSURE_BAR + round(dp_bar, 1))
    common = dict(temperature_K=GAS_TEMPERATURE_K, timestep_fs=GAS_TIMESTEP_FS, friction_per_ps=GAS_FRICTION_PER_PS,
                  **barostat_kwargs)
    system = run_ours(system, barostat, n_equil=n_equil, n_prod=0, seed=seed + 5, pressure_bar=pressures[0],
                      **common)["system"]
    data = []
    for k, pressure in enumerate(pressures):
        out = run_ours(system, barostat, n_equil=n_equil // 2, n_prod=n_prod, every=barostat_kwargs.get("interval", 1),
                       seed=seed + 17 * k, pressure_bar=pressure, **common)
        data.append(pv_data(out, pressure_bar=pressure, temperature_K=GAS_TEMPERATURE_K, n_atoms=n_atoms,
                            com_fixed=out["ndof"] < 3 * n_atoms))
    quantiles = pv.ensemble.check(data[0], data[1], verbosity=verbosity, bootstrap_seed=seed)
    return [float(q) for q in quantiles]
