"""System state: lossless round trips through ase.Atoms and MDTraj, and
Maxwell–Boltzmann velocities at the right temperature."""

from __future__ import annotations


import mdtraj
import numpy as np
import pytest

from systems.errors import InputError
from systems.state import System
from systems.units import ANGSTROM_PER_NM, TIME_PER_PS, kB
from systems.velocities import maxwell_boltzmann

from tests.shared_data import DATA  # noqa: E402


def triclinic_system(pbc=(True, False, True), seed=0) -> System:
    rng = np.random.default_rng(seed)
    n = 9
    cell = np.array([[7.1, 0.0, 0.0], [1.9, 6.4, 0.0], [-0.8, 1.1, 8.3]])  # lower triangular, as MDTraj stores it
    return System(
        numbers=rng.integers(1, 30, n),
        masses=rng.uniform(1.0, 60.0, n),
        positions=rng.uniform(-2, 10, (n, 3)),
        velocities=rng.normal(size=(n, 3)) * 0.01,
        cell=cell,
        pbc=pbc,
        time=123.456,
    )


def assert_same_system(a: System, b: System, rtol=0.0):
    np.testing.assert_array_equal(a.numbers, b.numbers)
    np.testing.assert_array_equal(a.pbc, b.pbc)
    np.testing.assert_allclose(a.masses, b.masses, rtol=rtol)
    np.testing.assert_allclose(a.positions, b.positions, rtol=rtol)
    np.testing.assert_allclose(a.cell, b.cell, rtol=rtol)
    # ASE stores momenta; v → m·v → (m·v)/m may move the last bit
    np.testing.assert_allclose(a.velocities, b.velocities, rtol=max(rtol, 4e-16), atol=0)
    assert a.time == pytest.approx(b.time, rel=max(rtol, 1e-15))


def test_ase_round_trip_is_lossless_for_triclinic_partly_periodic_box():
    system = triclinic_system()
    atoms = system.to_atoms()
    np.testing.assert_array_equal(atoms.get_pbc(), [True, False, True])
    np.testing.assert_array_equal(atoms.get_positions(), system.positions)
    np.testing.assert_array_equal(atoms.get_masses(), system.masses)
    back = System.from_atoms(atoms)
    assert_same_system(system, back)
    assert back.positions.dtype == np.float64 and back.velocities.dtype == np.float64
    # and the other way round: Atoms → System → Atoms
    again = back.to_atoms()
    np.testing.assert_array_equal(again.get_positions(), atoms.get_positions())
    np.testing.assert_array_equal(again.get_momenta(), atoms.get_momenta())
    np.testing.assert_array_equal(again.cell.array, atoms.cell.array)


def test_kinetic_energy_and_temperature_agree_with_ase():
    system = triclinic_system()
    atoms = system.to_atoms()
    assert system.kinetic_energy() == pytest.approx(atoms.get_kinetic_energy(), rel=1e-13)
    # ASE counts 3N degrees of freedom
    assert system.temperature(remove_com=False) == pytest.approx(atoms.get_temperature(), rel=1e-12)


def test_mdtraj_round_trip_to_float32_precision():
    system = triclinic_system(pbc=True)
    system.time = 2.5 * TIME_PER_PS
    traj = system.to_mdtraj()
    assert traj.n_frames == 1 and traj.n_atoms == len(system)
    np.testing.assert_allclose(traj.xyz[0], system.positions / ANGSTROM_PER_NM, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(traj.unitcell_vectors[0], system.cell / ANGSTROM_PER_NM, rtol=1e-6, atol=1e-6)
    assert traj.time[0] == pytest.approx(2.5, rel=1e-6)
    back = System.from_mdtraj(traj)
    np.testing.assert_allclose(back.positions, system.positions, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(back.cell, system.cell, rtol=1e-6, atol=1e-5)
    assert back.pbc.all()
    assert back.time == pytest.approx(system.time, rel=1e-6)
    np.testing.assert_array_equal(back.numbers, system.numbers)


def test_mdtraj_velocities_are_converted_from_nm_per_ps():
    system = triclinic_system(pbc=True)
    traj = system.to_mdtraj()
    v_nm_ps = np.full((len(system), 3), 1.0)  # 1 nm/ps = 10 Å per ps
    back = System.from_mdtraj(traj, velocities_nm_per_ps=v_nm_ps)
    np.testing.assert_allclose(back.velocities, 10.0 / TIME_PER_PS)


@pytest.mark.skipif(not (DATA / "frame0.xtc").exists(), reason="shared test trajectory not present")
def test_real_trajectory_frame_round_trip():
    traj = mdtraj.load(str(DATA / "frame0.xtc"), top=str(DATA / "native.pdb"))
    frame = 17
    system = System.from_mdtraj(traj, frame)
    np.testing.assert_allclose(system.positions, traj.xyz[frame].astype(np.float64) * 10.0, rtol=1e-15)
    np.testing.assert_allclose(system.cell, traj.unitcell_vectors[frame].astype(np.float64) * 10.0, rtol=1e-15)
    assert system.time == pytest.approx(traj.time[frame] * TIME_PER_PS)
    assert system.numbers[0] == traj.topology.atom(0).element.atomic_number
    out = system.to_mdtraj(traj.topology)
    np.testing.assert_allclose(out.xyz[0], traj.xyz[frame], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(out.unitcell_vectors[0], traj.unitcell_vectors[frame], rtol=1e-6, atol=1e-6)
    assert out.time[0] == pytest.approx(traj.time[frame], rel=1e-6)


def test_maxwell_boltzmann_temperature_within_error_bars():
    rng = np.random.default_rng(3)
    n = 20000
    masses = rng.choice([1.008, 12.011, 39.948, 131.29], size=n)
    temperature_K = 300.0
    velocities = maxwell_boltzmann(masses, temperature_K, 42)
    system = System(np.ones(n), masses, np.zeros((n, 3)), velocities)
    dof = 3 * n - 3
    sigma = temperature_K * np.sqrt(2.0 / dof)  # std of the instantaneous temperature
    assert abs(system.temperature() - temperature_K) < 4 * sigma
    np.testing.assert_allclose(masses @ velocities, 0.0, atol=1e-10)  # COM momentum removed
    # equipartition per species: ⟨m v_x²⟩ = kB T for light and heavy atoms alike
    for m in np.unique(masses):
        sel = masses == m
        ratio = (m * velocities[sel] ** 2).mean() / (kB * temperature_K)
        assert abs(ratio - 1.0) < 4 * np.sqrt(2.0 / (3 * sel.sum()))


def test_maxwell_boltzmann_is_seeded_and_validates():
    masses = np.ones(10)
    np.testing.assert_array_equal(maxwell_boltzmann(masses, 50.0, 7), maxwell_boltzmann(masses, 50.0, 7))
    assert not np.array_equal(maxwell_boltzmann(masses, 50.0, 7), maxwell_boltzmann(masses, 50.0, 8))
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(maxwell_boltzmann(masses, 50.0, rng_a), maxwell_boltzmann(masses, 50.0, rng_b))
    with pytest.raises(InputError, match="atom 3"):
        maxwell_boltzmann([1.0, 1.0, 1.0, 0.0], 50.0, 0)
    with pytest.raises(InputError, match="temperature_K"):
        maxwell_boltzmann(masses, -5.0, 0)
    np.testing.assert_array_equal(maxwell_boltzmann(masses, 0.0, 0), 0.0)
