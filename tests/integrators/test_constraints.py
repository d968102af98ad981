"""Constraints in the MD integrators: RATTLE bonds, fixed atoms, fixed centre of mass, N_f, exact resume."""

import numpy as np
import pytest

from integrators import Bussi, CheckpointReporter, LangevinBAOAB, RunawayError, Simulation, VelocityVerlet
from integrators.constraints import ConstraintError, Constraints
from systems import units
from systems.constraint_bonds import hydrogen_bonds_from_radii
from systems.errors import InputError
from systems.toy_water import ToyWaterPotential, water_box

from .recorder import Recorder
from .stats import block_mean


def _water(n_per_side=2, seed=0, temperature_K=300.0):
    system, molecules = water_box(n_per_side, seed=seed, temperature_K=temperature_K)
    return system, ToyWaterPotential(molecules)


def _make(kind, provider, constraints, **kw):
    if kind == "verlet":
        return VelocityVerlet(provider, timestep_fs=1.0, constraints=constraints)
    if kind == "langevin":
        return LangevinBAOAB(provider, timestep_fs=1.0, temperature_K=300.0, friction_per_fs=0.02,
                             seed=kw.get("seed", 3), constraints=constraints)
    return Bussi(provider, timestep_fs=1.0, temperature_K=300.0, tau_fs=50.0, seed=kw.get("seed", 3),
                 constraints=constraints)


@pytest.mark.parametrize("kind", ["verlet", "langevin", "bussi"])
def test_rattle_holds_bond_lengths_and_velocity_constraints_every_step(kind):
    system, provider = _water()
    constraints = Constraints.for_system(system, bonds=hydrogen_bonds_from_radii(system))
    integrator = _make(kind, provider, constraints)
    integrator.initialize(system)
    worst_length = worst_velocity = 0.0
    for _ in range(300):
        integrator.step(system)
        dl, dv = constraints.bond_errors(system)
        worst_length = max(worst_length, np.abs(dl).max())
        worst_velocity = max(worst_velocity, np.abs(dv).max())
    assert worst_length < 1e-10  # Å
    assert worst_velocity < 1e-10  # Å²/ASE time; |v_ij||r_ij| is ~0.1 here
    # the unconstrained H–H bonds (the bend) do move: the molecules are not frozen
    hh = np.linalg.norm(system.positions[1] - system.positions[2])
    assert abs(hh - provider.r0[-1]) > 1e-4


def test_constrained_nve_conserves_energy_with_second_order_fluctuations():
    """E fluctuations of RATTLE Verlet shrink 4× when Δ halves, and the drift is tiny."""
    stds = []
    for dt in (1.0, 0.5):
        system, provider = _water(seed=4)
        constraints = Constraints.for_system(system, bonds=hydrogen_bonds_from_radii(system))
        vv = VelocityVerlet(provider, timestep_fs=dt, constraints=constraints)
        vv.initialize(system)
        energies = []
        for _ in range(int(round(200 / dt))):
            vv.step(system)
            energies.append(vv.last_result.energy + system.kinetic_energy())
        energies = np.array(energies)
        t_ps = np.arange(len(energies)) * dt / 1000.0
        drift_ev_per_ps = np.polyfit(t_ps, energies, 1)[0]
        assert abs(drift_ev_per_ps) < 2e-3 * system.n_atoms * units.kB * 300.0 / 0.2  # ≪ kT per atom over the run
        stds.append(energies.std())
    ratio = stds[0] / stds[1]
    assert 3.0 < ratio < 5.5, stds  # second order; an unconstrained bond at 1 fs or a broken projection is not


def test_fixed_atoms_never_move_under_langevin_and_forces_on_them_are_ignored():
    system, provider = _water(seed=1)
    fixed = [0, 3, 5]
    start = system.positions.copy()
    constraints = Constraints.for_system(system, fixed_atoms=fixed, bonds=hydrogen_bonds_from_radii(system))
    lv = _make("langevin", provider, constraints)
    Simulation(system, lv).run(200)
    assert np.array_equal(system.positions[fixed], start[fixed])  # bit for bit
    assert not np.any(system.velocities[fixed])
    moving = np.setdiff1d(np.arange(system.n_atoms), fixed)
    assert np.abs(system.positions[moving] - start[moving]).max() > 0.05
    assert np.abs(lv.last_result.forces[fixed]).max() > 0  # there were forces to ignore
    dl, dv = constraints.bond_errors(system)  # bonds to a fixed atom hold too
    assert np.abs(dl).max() < 1e-10 and np.abs(dv).max() < 1e-10


def test_fixed_centre_of_mass_does_not_drift_under_langevin_noise():
    drifts = {}
    for fix in (True, False):
        system, provider = _water(seed=2)
        com0 = system.masses @ system.positions / system.masses.sum()
        constraints = Constraints.for_system(system, fix_com=fix, bonds=hydrogen_bonds_from_radii(system))
        Simulation(system, _make("langevin", provider, constraints)).run(200)
        com = system.masses @ system.positions / system.masses.sum()
        drifts[fix] = np.abs(com - com0).max()
        if fix:
            assert np.abs(system.momenta.sum(axis=0)).max() < 1e-10
    assert drifts[True] < 1e-10, drifts  # Å
    assert drifts[False] > 1e-3, drifts  # without it the noise moves the centre of mass


def test_degrees_of_freedom_follow_the_one_rule():
    system, provider = _water()
    bonds = hydrogen_bonds_from_radii(system)
    n = system.n_atoms
    c = Constraints.for_system(system, fixed_atoms=[0, 1, 2], fix_com=True, bonds=bonds)
    bonds_kept = len(bonds) - 2  # bonds (0, 1) and (0, 2) join two fixed atoms: no constraint left
    assert c.n_constraints == 9 + bonds_kept
    assert _make("langevin", provider, c).degrees_of_freedom(system) == 3 * n - 3 - 9 - bonds_kept
    with pytest.raises(InputError, match="bond of atoms 0 and 1 joins a fixed atom to a moving one"):
        Constraints.for_system(system, fixed_atoms=[0], fix_com=True, bonds=bonds)  # that bond would move the COM
    c = Constraints.for_system(system, fixed_atoms=[0, 1], bonds=bonds)
    bonds_kept = len(bonds) - 1
    assert c.n_constraints == 6 + bonds_kept
    assert _make("langevin", provider, c).degrees_of_freedom(system) == 3 * n - 6 - bonds_kept
    # fixed atoms take up momentum: no centre-of-mass reduction for Verlet either
    assert _make("verlet", provider, c).degrees_of_freedom(system) == 3 * n - 6 - bonds_kept
    free = Constraints.for_system(system, bonds=bonds)
    assert _make("langevin", provider, free).degrees_of_freedom(system) == 3 * n - len(bonds)  # noise moves the COM
    vv = _make("verlet", provider, free)
    vv.initialize(system)
    assert vv.degrees_of_freedom(system) == 3 * n - 3 - len(bonds)  # momentum conserved, COM at rest


def test_constrained_langevin_mean_temperature_equals_the_target():
    """⟨2K/(N_f k_B)⟩ = T with N_f = 3N − n_bonds; counting 3N instead would read ~20 % low (fails by > 5σ)."""
    system, provider = _water(seed=6)
    constraints = Constraints.for_system(system, bonds=hydrogen_bonds_from_radii(system))
    lv = LangevinBAOAB(provider, timestep_fs=1.0, temperature_K=300.0, friction_per_fs=0.05, seed=9,
                       constraints=constraints)
    Simulation(system, lv).run(200)
    recorder = Recorder(1)
    Simulation(system, lv, [recorder]).run(2500)
    mean, se = block_mean(recorder.temperatures, 20)
    assert abs(mean - 300.0) < 3 * se, (mean, se)
    n_f, n_3n = lv.degrees_of_freedom(system), 3 * system.n_atoms
    assert abs(mean * n_f / n_3n - 300.0) > 5 * se  # the wrong count is detectable at this precision


@pytest.mark.parametrize("kind, fixed, fix_com", [("langevin", [4], False), ("bussi", [], True)])
def test_constrained_resume_is_bit_for_bit(tmp_path, kind, fixed, fix_com):
    system, _ = _water(seed=3)
    molecules = np.arange(system.n_atoms).reshape(-1, 3)

    def build(start):
        c = Constraints.for_system(start, fixed_atoms=fixed, fix_com=fix_com, bonds=hydrogen_bonds_from_radii(start))
        return _make(kind, ToyWaterPotential(molecules), c, seed=21)

    reference, start = system.copy(), system.copy()
    continuous = build(system)
    Simulation(reference, continuous).run(60)
    path = tmp_path / "c.npz"
    with Simulation(start, build(system), [CheckpointReporter(path, 30)]) as sim:
        sim.run(30)
    fresh = build(system)  # constraints are configuration: rebuilt from the starting frame
    resumed = Simulation.from_checkpoint(path, fresh)
    resumed.run(30)
    assert np.array_equal(resumed.system.positions, reference.positions)
    assert np.array_equal(resumed.system.velocities, reference.velocities)
    assert fresh.energy_exchanged == continuous.energy_exchanged
    with pytest.raises(ValueError, match="written with constraints"):
        Simulation.from_checkpoint(path, _make(kind, ToyWaterPotential(molecules), None))


@pytest.mark.parametrize("kind", ["verlet", "langevin", "bussi"])
def test_empty_constraints_change_nothing_bit_for_bit(kind):
    """The hooks with nothing to constrain give the very trajectory of an integrator without constraints."""
    runs = []
    for constraints in (None, "empty"):
        system, provider = _water(seed=5)
        c = Constraints(system.n_atoms) if constraints else None
        Simulation(system, _make(kind, provider, c)).run(50)
        runs.append(system)
    assert np.array_equal(runs[0].positions, runs[1].positions)
    assert np.array_equal(runs[0].velocities, runs[1].velocities)


def test_non_convergence_names_the_bond():
    system, provider = _water(seed=7, temperature_K=3000.0)
    constraints = Constraints.for_system(system, bonds=hydrogen_bonds_from_radii(system), max_iterations=2)
    vv = VelocityVerlet(provider, timestep_fs=4.0, constraints=constraints)
    with pytest.raises(ConstraintError, match=r"atoms \d+ and \d+") as info:
        for _ in range(20):
            vv.step(system)
    i, j = info.value.atoms
    assert [min(i, j), max(i, j)] in constraints.bonds.tolist()
    # under the driver it is a runaway that names the step and the bond's atoms
    system, provider = _water(seed=7, temperature_K=3000.0)
    constraints = Constraints.for_system(system, bonds=hydrogen_bonds_from_radii(system))
    vv = VelocityVerlet(provider, timestep_fs=4.0, constraints=constraints)
    vv.initialize(system)  # a consistent start (its projection needs more than 2 sweeps) ...
    constraints.max_iterations = 2  # ... then too few sweeps for a 4 fs step at 3000 K
    with pytest.raises(RunawayError, match=r"runaway at step \d+: .*atoms \d+ and \d+") as info:
        Simulation(system, vv).run(20)
    assert len(info.value.atoms) == 2


def test_rattle_uses_the_minimum_image_in_a_triclinic_cell():
    """Waters wrapped into a skewed cell (bonds across its faces), harmonic bonds only: the rigid O–H hold."""
    from systems.potentials.bonded import HarmonicBonds

    system, molecules = water_box(2, seed=8)
    oxygens = system.positions[molecules[:, 0]]
    for h in (1, 2):  # whole molecules first (the cubic box wrapped some of them), then the skewed cell
        d = system.positions[molecules[:, h]] - oxygens
        system.positions[molecules[:, h]] = oxygens + d - 13.0 * np.rint(d / 13.0)
    system.cell = np.array([[13.0, 0.0, 0.0], [4.0, 13.0, 0.0], [2.0, 3.0, 13.0]])
    atoms = system.to_atoms()
    atoms.wrap()
    system.positions = atoms.get_positions()
    bonds = hydrogen_bonds_from_radii(system)  # covalent radii with ASE's minimum image in the skewed cell
    assert len(bonds) == 2 * len(molecules)
    hh = molecules[:, 1:]
    provider = HarmonicBonds(np.concatenate([bonds, hh]), k=np.r_[np.full(len(bonds), 48.0), np.full(len(hh), 10.0)],
                             r0=np.r_[np.full(len(bonds), 1.0), np.full(len(hh), 1.633)])
    constraints = Constraints.for_system(system, bonds=bonds)
    raw = np.linalg.norm(system.positions[bonds[:, 0]] - system.positions[bonds[:, 1]], axis=1)
    assert raw.max() > 5.0  # some bonds do cross a face
    vv = VelocityVerlet(provider, timestep_fs=1.0, constraints=constraints)
    Simulation(system, vv).run(200)
    dl, dv = constraints.bond_errors(system)
    assert np.abs(dl).max() < 1e-10 and np.abs(dv).max() < 1e-10
