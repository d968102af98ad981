"""NPT: cell changes rebuild neighbor lists, exact resume, the effective energy, anisotropic relaxation,
volume/density columns, and refused input."""

from __future__ import annotations

import io

import numpy as np
import pytest

from integrators import Bussi, LangevinBAOAB, Simulation, ThermoLogReporter, VelocityVerlet
from integrators.barostat_crescale import CRescaleBarostat
from integrators.barostat_mc import MonteCarloBarostat
from integrators.npt import NPT, scale_system
from systems import units
from systems.catalogue import argon_fcc, liquid_argon
from systems.errors import InputError
from systems.forces import ForceResult
from systems.potentials import LennardJones
from systems.state import System

CUTOFF = 8.5


def _argon(n=64, seed=0):
    return liquid_argon(n, density_g_cm3=1.25, seed=seed)


def _npt(kind="crescale", seed=1, thermostat="langevin", **kwargs):
    pot = LennardJones.argon(cutoff=CUTOFF)
    if thermostat == "langevin":
        inner = LangevinBAOAB(pot, timestep_fs=10, temperature_K=94.4, friction_per_fs=0.002, seed=seed)
    else:
        inner = Bussi(pot, timestep_fs=10, temperature_K=94.4, tau_fs=200, seed=seed)
    if kind == "crescale":
        baro = CRescaleBarostat(1.0, tau_p_fs=1000, compressibility_per_bar=3.5e-4, seed=seed + 1, **kwargs)
    else:
        baro = MonteCarloBarostat(1.0, interval=5, adapt_attempts=20, seed=seed + 1, **kwargs)
    return NPT(inner, baro)


# ------------------------------------------------------------------ neighbor lists after a cell change
def _egnn_provider():
    from surrogate.egnn.model import EGNNEnergyModel
    from surrogate.egnn.provider import EGNNForceProvider

    import torch

    torch.manual_seed(0)
    model = EGNNEnergyModel([18], 6.0, hidden=8, layers=1, dtype=torch.float64)
    return lambda: EGNNForceProvider(model, skin=1.0, script=False)


def _ase_provider():
    from ase.calculators.lj import LennardJones as AseLJ

    from integrators import AseCalculatorProvider

    return lambda: AseCalculatorProvider(AseLJ(sigma=3.405, epsilon=0.0103, rc=CUTOFF))


@pytest.mark.parametrize("make", ["lj", "ase", "egnn"])
@pytest.mark.parametrize("mu", [(1.0 + 1e-9,) * 3, (1.02,) * 3, (0.99, 1.01, 1.0)])
def test_forces_after_a_cell_change_equal_a_fresh_providers(make, mu):
    """A provider used before the cell changed (its neighbor list built for the old cell, within its skin)
    gives the same forces and stress after the change as a provider that never saw the old cell."""
    factory = {"lj": lambda: (lambda: LennardJones.argon(cutoff=CUTOFF)), "ase": _ase_provider,
               "egnn": _egnn_provider}[make]()
    system = _argon(32)
    used = factory()
    used.compute(system, stress=True)
    scale_system(system, np.array(mu), velocities=True)
    after = used.compute(system, stress=True)
    fresh = factory().compute(system, stress=True)
    np.testing.assert_allclose(after.forces, fresh.forces, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(after.stress, fresh.stress, rtol=1e-12, atol=1e-14)
    assert after.energy == pytest.approx(fresh.energy, rel=1e-12, abs=1e-12)


def test_scaling_keeps_wrapped_and_unwrapped_images():
    """Affine scaling maps an unwrapped position to the image of its wrapped copy in the new cell."""
    system = _argon(8)
    system.positions[0] += system.cell[0] * 2 - system.cell[1]  # far outside the box
    wrapped = system.copy()
    frac = np.linalg.solve(wrapped.cell.T, wrapped.positions.T).T
    wrapped.positions = (frac % 1.0) @ wrapped.cell
    mu = np.array([1.03, 0.98, 1.01])
    scale_system(system, mu, velocities=False)
    scale_system(wrapped, mu, velocities=False)
    shift = np.linalg.solve(system.cell.T, (system.positions - wrapped.positions).T).T
    np.testing.assert_allclose(shift, np.round(shift), atol=1e-12)


# ------------------------------------------------------------------ resume
@pytest.mark.parametrize("kind", ["crescale", "mc"])
def test_checkpoint_resume_is_bit_exact(tmp_path, kind):
    """Cell, barostat RNG, counters and adapted MC step survive a checkpoint: the resumed run equals the
    uninterrupted one bit for bit."""
    start = _argon(32, seed=4)
    straight = start.copy()
    sim = Simulation(straight, _npt(kind))
    sim.run(230)

    first = start.copy()
    sim1 = Simulation(first, _npt(kind))
    sim1.run(117)
    sim1.save_checkpoint(tmp_path / "c.npz")
    sim2 = Simulation.from_checkpoint(tmp_path / "c.npz", _npt(kind))
    sim2.run(113)
    assert np.array_equal(sim2.system.positions, straight.positions)
    assert np.array_equal(sim2.system.velocities, straight.velocities)
    assert np.array_equal(sim2.system.cell, straight.cell)
    assert not np.array_equal(straight.cell, start.cell)  # the barostat did move the cell
    assert sim2.integrator.state_dict()["barostat"] == sim.integrator.state_dict()["barostat"]


def test_cli_resume_continues_an_npt_run_exactly(tmp_path):
    """`surrogate run --ensemble npt` stopped at a checkpoint and resumed writes the trajectory of one run."""
    from surrogate.cli import main as cli_main

    common = ["run", "--n-atoms", "32", "--no-progress", "--seed", "2", "--ensemble", "npt", "--barostat", "mc",
              "--barostat-interval", "5", "--traj-interval", "10", "--checkpoint-interval", "20", "--timestep-fs", "10",
              "--runaway-temperature-patience-fs", "5000"]
    assert cli_main([*common, "--steps", "100", "--out", str(tmp_path / "one")]) == 0
    assert cli_main([*common, "--steps", "40", "--out", str(tmp_path / "two")]) == 0
    assert cli_main([*common, "--steps", "100", "--out", str(tmp_path / "two"), "--resume"]) == 0
    one = (tmp_path / "one" / "trajectory.extxyz").read_bytes()
    assert (tmp_path / "two" / "trajectory.extxyz").read_bytes() == one
    assert (tmp_path / "two" / "thermo.csv").read_bytes() == (tmp_path / "one" / "thermo.csv").read_bytes()
    header = (tmp_path / "one" / "thermo.csv").read_text().splitlines()[0].split(",")
    assert {"volume_A3", "density_g_cm3", "mc_volume_acceptance"} <= set(header)


# ------------------------------------------------------------------ physics of the moves
@pytest.mark.parametrize("kind", ["crescale", "mc"])
def test_effective_energy_is_conserved(kind):
    """E_pot + E_kin + P₀V − (thermostat heat + barostat enthalpy) stays within the MD integration error,
    while E_tot + P₀V itself wanders with the heat and the volume moves."""
    system = _argon(64, seed=5)
    npt = _npt(kind, thermostat="bussi")
    sim = Simulation(system, npt)
    sim.run(100)
    conserved, enthalpy = [], []
    for _ in range(60):
        sim.run(10)
        epot, ekin = npt.last_result.energy, system.kinetic_energy()
        conserved.append(npt.conserved_energy(epot, ekin))
        enthalpy.append(epot + ekin + npt.barostat.pressure * system.volume)
    assert np.ptp(conserved) < 0.05 * np.ptp(enthalpy)
    assert npt.barostat_work != 0.0


def test_anisotropic_crescale_relaxes_a_strained_crystal_to_cubic():
    """FCC argon stretched 4 % along x and squeezed 3 % along z: per-axis stochastic rescaling brings the mean
    box lengths together (the crystal's equilibrium is cubic; each length fluctuates ~1 %); isotropic
    coupling cannot."""
    def relax(coupling):
        system = argon_fcc(3, temperature_K=40.0, seed=1)
        scale_system(system, np.array([1.04, 1.0, 0.97]), velocities=False)
        inner = LangevinBAOAB(LennardJones.argon(cutoff=CUTOFF), timestep_fs=10, temperature_K=40.0,
                              friction_per_fs=0.005, seed=3)
        npt = NPT(inner, CRescaleBarostat(1.0, tau_p_fs=1000, compressibility_per_bar=3e-4, coupling=coupling,
                                          seed=4))
        sim = Simulation(system, npt)
        sim.run(200)
        lengths = []
        for _ in range(60):
            sim.run(10)
            lengths.append(np.diag(system.cell))
            assert np.count_nonzero(system.cell - np.diag(np.diag(system.cell))) == 0  # no shear appears
        mean = np.mean(lengths, axis=0)
        return np.ptp(mean) / mean.mean()

    assert relax("anisotropic") < 0.02
    assert relax("isotropic") > 0.06  # the strain stays: only the volume was free


def test_thermo_log_has_volume_and_density():
    system = _argon(32)
    npt = _npt("crescale")
    stream = io.StringIO()
    with Simulation(system, npt, [ThermoLogReporter(stream, 20)]) as sim:
        sim.run(40)
    lines = stream.getvalue().splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[-1].split(",")))
    assert float(row["volume_A3"]) == pytest.approx(system.volume, rel=1e-11)
    mass_g = system.masses.sum() * 1.66053906660e-24
    assert float(row["density_g_cm3"]) == pytest.approx(mass_g / (system.volume * 1e-24), rel=1e-6)


# ------------------------------------------------------------------ refused input
class _NoStress:
    """A real LJ provider that, like many ASE calculators, gives no stress."""

    def __init__(self):
        self.inner = LennardJones.argon(cutoff=CUTOFF)

    def compute(self, system, stress=False):
        r = self.inner.compute(system)
        return ForceResult(r.energy, r.forces)


def test_refuses_bad_input():
    pot = LennardJones.argon(cutoff=CUTOFF)
    with pytest.raises(InputError, match="no thermostat"):
        NPT(VelocityVerlet(pot, timestep_fs=5), CRescaleBarostat(1.0, seed=0))
    langevin = LangevinBAOAB(pot, timestep_fs=5, temperature_K=90, friction_per_fs=0.01, seed=0)
    with pytest.raises(InputError, match="too short"):
        NPT(langevin, CRescaleBarostat(1.0, tau_p_fs=15, seed=0))  # torch-sim's 3·Δ
    for bad in (dict(pressure_bar=float("nan")), dict(pressure_bar=1, compressibility_per_bar=-1),
                dict(pressure_bar=1, coupling="triclinic"), dict(pressure_bar=1, interval=0)):
        with pytest.raises(InputError):
            CRescaleBarostat(**bad, seed=0)
    with pytest.raises(InputError, match="seed"):
        CRescaleBarostat(1.0)
    with pytest.raises(InputError, match="step_fraction"):
        MonteCarloBarostat(1.0, step_fraction=0.5, seed=0)

    molecule = System([18, 18], [39.948] * 2, [[0, 0, 0], [3.8, 0, 0]])  # no cell
    with pytest.raises(InputError, match="periodic"):
        Simulation(molecule, NPT(langevin, MonteCarloBarostat(1.0, seed=0))).run(1)

    no_stress = LangevinBAOAB(_NoStress(), timestep_fs=5, temperature_K=90, friction_per_fs=0.01, seed=0)
    with pytest.raises(InputError, match="no stress"):
        Simulation(_argon(32), NPT(no_stress, CRescaleBarostat(1.0, seed=0))).run(1)
    Simulation(_argon(32), NPT(no_stress, MonteCarloBarostat(1.0, interval=2, seed=0))).run(4)  # MC: energies only

    from integrators.constraints import Constraints

    for held in (dict(fixed_atoms=[0]), dict(bonds=[[0, 1]], lengths=[3.8])):
        rigid = LangevinBAOAB(pot, timestep_fs=5, temperature_K=90, friction_per_fs=0.01, seed=0,
                              constraints=Constraints(32, **held))
        with pytest.raises(InputError, match="rigid bonds or fixed atoms"):
            NPT(rigid, MonteCarloBarostat(1.0, seed=0))
    free_com = LangevinBAOAB(pot, timestep_fs=5, temperature_K=90, friction_per_fs=0.01, seed=0,
                             constraints=Constraints(32, fix_com=True))
    NPT(free_com, MonteCarloBarostat(1.0, seed=0))  # a fixed centre of mass is fine


def test_cli_refuses_npt_it_cannot_run(tmp_path, capsys):
    from surrogate.cli import main as cli_main

    base = ["run", "--n-atoms", "32", "--steps", "2", "--no-progress", "--out", str(tmp_path / "x")]
    assert cli_main([*base, "--ensemble", "npt", "--integrator", "verlet"]) == 2
    assert "--ensemble npt needs --integrator langevin or bussi" in capsys.readouterr().err
    assert cli_main([*base, "--ensemble", "npt", "--integrator", "mc"]) == 2
    assert cli_main([*base, "--tau-p-fs", "1000"]) == 2
    assert "only with --ensemble npt" in capsys.readouterr().err
    xyz = tmp_path / "dimer.xyz"
    xyz.write_text("2\n\nAr 0 0 0\nAr 3.8 0 0\n")
    assert cli_main(["run", "--system", str(xyz), "--ensemble", "npt", "--steps", "2", "--no-progress",
                     "--out", str(tmp_path / "y")]) == 2
    assert "periodic" in capsys.readouterr().err
