"""OpenMM as a force provider: units at the boundary, F = −∇E, and a CLI run with a topology."""

from __future__ import annotations


import numpy as np
import pytest

openmm = pytest.importorskip("openmm")

from systems.errors import InputError  # noqa: E402
from surrogate.openmm_provider import EV_PER_KJ_MOL, OpenMMForceProvider  # noqa: E402

from tests.shared_data import DATA  # noqa: E402
PDB = DATA / "native.pdb"
needs_pdb = pytest.mark.skipif(not PDB.exists(), reason="alanine dipeptide test data not present")


@pytest.fixture(scope="module")
def provider():
    return OpenMMForceProvider(PDB, ["amber14-all.xml"], nonbonded="NoCutoff", platform="Reference")


@needs_pdb
def test_energy_matches_openmm_in_ev(provider):
    from openmm import app, unit

    pdb = app.PDBFile(str(PDB))
    system = app.ForceField("amber14-all.xml").createSystem(pdb.topology, nonbondedMethod=app.NoCutoff,
                                                              constraints=None, rigidWater=False)
    context = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(pdb.positions)
    expected = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    state = provider.initial_system()
    assert provider.compute(state).energy == pytest.approx(expected * EV_PER_KJ_MOL, rel=1e-10)
    assert EV_PER_KJ_MOL == pytest.approx(1000.0 / 96485.332, rel=1e-7)  # 1 kJ/mol = 1000 J/mol / Faraday (eV)
    assert state.n_atoms == 22 and state.masses[1] == pytest.approx(12.01)  # amu from the force field


@needs_pdb
def test_forces_are_minus_the_energy_gradient_in_ev_per_angstrom(provider):
    state = provider.initial_system()
    rng = np.random.default_rng(0)
    state.positions += rng.normal(scale=0.02, size=state.positions.shape)
    forces = provider.compute(state).forces
    h = 1e-4  # Å
    for atom, axis in [(0, 0), (6, 1), (14, 2), (21, 0)]:
        plus, minus = state.copy(), state.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        numeric = -(provider.compute(plus).energy - provider.compute(minus).energy) / (2 * h)
        assert forces[atom, axis] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


@needs_pdb
def test_stress_and_wrong_sizes_are_refused(provider):
    state = provider.initial_system()
    with pytest.raises(InputError, match="no stress"):
        provider.compute(state, stress=True)
    with pytest.raises(InputError, match="does not exist"):
        OpenMMForceProvider("missing.pdb", ["amber14-all.xml"])


@needs_pdb
def test_generate_with_openmm_writes_a_topology_that_compare_uses(tmp_path):
    from surrogate.cli import main
    from surrogate.compare import compare_trajectories

    out = tmp_path / "ala"
    argv = ["generate", "--pdb", str(PDB), "--forcefield", "amber14-all.xml", "--openmm-platform", "Reference",
            "--temperature-K", "300", "--equilibrate-ps", "0", "--steps", "60", "--traj-interval", "2",
            "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "topology.pdb").exists()
    header = (out / "thermo.csv").read_text().splitlines()[1].split(",")
    assert header[6] == ""  # no pressure column value: OpenMM gives no stress
    result = compare_trajectories(out / "trajectory.extxyz", out / "trajectory.extxyz", names=["a", "b"],
                                  report=False)
    assert "H-C" in result.bonds and result.reference.run.topology.n_bonds == 21


@needs_pdb
def test_non_finite_positions_and_forces_raise_a_named_error(provider):
    from systems.forces import NonFiniteError

    system = provider.initial_system()
    system.positions[3] = system.positions[4]  # two bonded atoms on top of each other: OpenMM gives NaN forces
    with pytest.raises(NonFiniteError, match=r"OpenMM .*native\.pdb: non-finite forces on \d+ atoms \(first: .*3"):
        provider.compute(system)
    system = provider.initial_system()
    system.positions[5] = np.nan  # OpenMM's CPU platform would raise its own "Particle coordinate is NaN"
    with pytest.raises(NonFiniteError, match=r"non-finite positions of 1 atom \(first: 5\)") as info:
        provider.compute(system)
    assert info.value.atoms == (5,)
