"""Reference providers by name (surrogate.reference, ``--reference``): xTB's own numbers, forces that are the
energy's gradient, EMT and any ASE class, clear errors, and ``surrogate generate --reference xtb``."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from surrogate.cli import main
from surrogate.reference import check_elements, make_reference, reference_provider
from systems.errors import InputError
from systems.state import System
from systems.trajectory_reader import read_frames

tblite_ase = pytest.importorskip("tblite.ase")


def _tblite(method: str, **kwargs):
    return tblite_ase.TBLite(method=method, verbosity=0, **kwargs)


def _system(atoms: Atoms) -> System:
    return System.from_atoms(atoms)


@pytest.fixture(scope="module")
def methanol() -> Atoms:
    """Methanol, rattled off its minimum so every force component is sizeable (seeded)."""
    atoms = molecule("CH3OH")
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.mark.parametrize("name, method", [("xtb", "GFN2-xTB"), ("gfn2", "GFN2-xTB"), ("gfn1", "GFN1-xTB")])
def test_xtb_names_give_tblites_own_energy_and_forces(methanol, name, method):
    provider, description, _ = reference_provider(name)
    result = provider.compute(_system(methanol))
    direct = methanol.copy()
    direct.calc = _tblite(method)
    assert method in description
    assert result.energy == pytest.approx(direct.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(result.forces, direct.get_forces(), rtol=0, atol=1e-10)


def test_xtb_periodic_stress_is_tblites_own():
    """A periodic H2 box: the provider's 3x3 stress (eV/Å³) is TBLite's Voigt stress, to 1e-10."""
    from ase.stress import voigt_6_to_full_3x3_stress

    atoms = Atoms("H2", positions=[[0.0, 0.0, 0.0], [0.76, 0.1, 0.0]], cell=[3.0, 3.2, 3.4], pbc=True)
    provider, _, stress = reference_provider("xtb")
    assert stress
    result = provider.compute(_system(atoms), stress=True)
    direct = atoms.copy()
    direct.calc = _tblite("GFN2-xTB")
    np.testing.assert_allclose(result.stress, voigt_6_to_full_3x3_stress(direct.get_stress()), rtol=0, atol=1e-10)
    np.testing.assert_allclose(result.forces, direct.get_forces(), rtol=0, atol=1e-10)
    assert abs(result.stress[0, 0]) > 1e-3  # a compressed box: the check compares a real number


def test_xtb_forces_are_minus_the_energy_gradient(methanol):
    """Central differences (h = 5e-4 Å) of the GFN2 energy at a tight SCF (--calculator-args accuracy 0.01)."""
    ref = make_reference("xtb", "{accuracy: 0.01}")
    provider = ref.provider()
    system = _system(methanol)
    forces = provider.compute(system).forces
    h = 5e-4
    for atom, axis in [(0, 0), (1, 2), (2, 1), (5, 0)]:
        energies = []
        for sign in (1.0, -1.0):
            moved = system.copy()
            moved.positions[atom, axis] += sign * h
            energies.append(provider.compute(moved).energy)
        gradient = (energies[0] - energies[1]) / (2 * h)
        assert abs(forces[atom, axis]) > 0.05, "pick components with a sizeable force"
        assert forces[atom, axis] == pytest.approx(-gradient, abs=2e-4), (atom, axis)


def test_gfn1_differs_from_gfn2(methanol):
    e1 = reference_provider("gfn1")[0].compute(_system(methanol)).energy
    e2 = reference_provider("gfn2")[0].compute(_system(methanol)).energy
    assert abs(e1 - e2) > 1.0  # eV: different parametrisations, not a renamed copy


def test_emt_and_ase_class_references_give_their_calculators_numbers():
    from ase.calculators.emt import EMT
    from ase.calculators.lj import LennardJones

    copper = bulk("Cu", cubic=True).repeat(2)
    copper.rattle(0.05, seed=1)
    provider, description, stress = reference_provider("emt", numbers=copper.numbers)
    result = provider.compute(_system(copper), stress=True)
    direct = copper.copy()
    direct.calc = EMT()
    assert "effective-medium" in description and stress
    assert result.energy == pytest.approx(direct.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(result.forces, direct.get_forces(), atol=1e-12)

    ref = make_reference("ase:ase.calculators.lj:LennardJones", "{sigma: 2.3, epsilon: 0.4, rc: 6.0}")
    assert isinstance(ref.calculator, LennardJones) and ref.description == "ASE LennardJones"
    lj = copper.copy()
    lj.calc = LennardJones(sigma=2.3, epsilon=0.4, rc=6.0)
    assert ref.provider().compute(_system(copper)).energy == pytest.approx(lj.get_potential_energy(), abs=1e-12)


@pytest.mark.parametrize("name, args, words", [
    ("dft", None, ["'dft'", "xtb", "gfn1", "emt", "ase:module:Class"]),
    ("ase:ase.calculators.emt:Nope", None, ["ase.calculators.emt", "Nope"]),
    ("ase:no_such_module_xyz:Calc", None, ["no_such_module_xyz"]),
    ("emt", "{bogus: 1}", ["--reference emt", "bogus"]),
    ("xtb", "[1, 2]", ["--calculator-args", "mapping"]),
    ("gfn1", "{method: GFN2-xTB}", ["GFN1-xTB", "GFN2-xTB"]),
])
def test_bad_reference_names_and_arguments_are_clear_errors(name, args, words):
    with pytest.raises(InputError) as err:
        make_reference(name, args)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_an_element_the_reference_cannot_do_is_named():
    with pytest.raises(InputError, match=r"cannot compute atom 1 \(Fe\).*Cu"):
        check_elements("emt", [29, 26, 29])
    with pytest.raises(InputError, match=r"atom 2 \(Og\).*Z 1-86"):
        check_elements("xtb", [1, 8, 118])
    check_elements("gfn1", [1, 6, 8, 86])  # H to Rn: accepted


def test_missing_tblite_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tblite.ase", None)  # what Python does for a package that is not installed
    with pytest.raises(InputError, match="pip install tblite"):
        make_reference("xtb")


def test_generate_reference_xtb_writes_xtbs_energies_and_forces(tmp_path, capsys):
    """A few Verlet steps of a water molecule on GFN2-xTB; each written frame holds xTB's own numbers."""
    from ase.io import write

    start = tmp_path / "water.xyz"
    write(start, molecule("H2O"))
    out = tmp_path / "gen"
    status = main(["generate", "--system", str(start), "--reference", "xtb", "--integrator", "verlet", "--steps", "3",
                   "--equilibrate-ps", "0", "--traj-interval", "1", "--temperature-K", "300", "--no-progress",
                   "--threads", "1", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    frames = list(read_frames(str(out / "trajectory.extxyz")))
    assert len(frames) == 4
    calc = _tblite("GFN2-xTB")
    moved = 0.0
    for frame in frames:
        atoms = frame.to_system().to_atoms()
        atoms.calc = calc
        assert frame.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(frame.forces, atoms.get_forces(), atol=1e-6)
        moved = max(moved, float(np.abs(frame.positions - frames[0].positions).max()))
    assert moved > 1e-4  # the molecule moved: the frames are not one geometry written four times
    assert "GFN2-xTB" in (out / "run_info.json").read_text()


def test_run_reference_emt_and_source_conflicts(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["run", "--system", "bulk:Cu", "--repeat", "2", "--reference", "emt", "--integrator", "verlet",
                   "--steps", "2", "--equilibrate-ps", "0", "--no-progress", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    assert "effective-medium" in (out / "run_info.json").read_text()
    status = main(["generate", "--system", "bulk:Cu", "--reference", "emt", "--potential", "lj", "--steps", "1",
                   "--out", str(tmp_path / "x")])
    assert status == 2
    assert "--potential and --reference" in capsys.readouterr().err
    status = main(["generate", "--system", "bulk:Fe", "--reference", "emt", "--steps", "1",
                   "--out", str(tmp_path / "y")])
    assert status == 2
    assert "atom 0 (Fe)" in capsys.readouterr().err


def test_lstm_operator_takes_its_window_forces_from_a_reference(tmp_path, capsys):
    """``run --integrator lstm --reference ase:...``: the many-body operator's warm-up (and force input) come
    from the named reference; --warmup-potential beside it is refused."""
    from ase import units

    from tests.surrogate.model_file_helpers import manybody_file

    model = manybody_file(tmp_path / "mb.pt")
    lj = ["--reference", "ase:ase.calculators.lj:LennardJones",
          "--calculator-args", "{sigma: 3.405, epsilon: 0.0103, rc: 8.5}"]
    out = tmp_path / "lstm"
    common = ["run", "--integrator", "lstm", "--model", str(model), "--system", "liquid-argon", "--n-atoms", "32",
              "--timestep-fs", repr(0.5 / units.fs), "--steps", "2", "--no-progress", "--threads", "1"]  # stride 2 steps
    status = main([*common, *lj, "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    info = (out / "run_info.json").read_text()
    assert "ASE LennardJones (--reference ase:ase.calculators.lj:LennardJones)" in info
    status = main([*common, *lj, "--warmup-potential", "lj-argon", "--out", str(tmp_path / "both")])
    assert status == 2 and "not both" in capsys.readouterr().err


def test_compare_checks_stored_forces_against_a_reference(tmp_path, capsys):
    """EMT copper frames: ``compare --reference emt`` finds their stored forces equal to EMT's (distance 0);
    ``--reference`` with another calculator (a Lennard-Jones) finds them far off and fails."""
    import json

    ref = tmp_path / "cu"
    assert main(["generate", "--system", "bulk:Cu", "--repeat", "2", "--reference", "emt", "--integrator", "verlet",
                 "--steps", "20", "--traj-interval", "2", "--equilibrate-ps", "0", "--temperature-K", "300",
                 "--no-progress", "--threads", "1", "--out", str(ref)]) == 0, capsys.readouterr().err
    traj = str(ref / "trajectory.extxyz")
    status = main(["compare", traj, traj, "--reference", "emt", "--out", str(tmp_path / "same"), "--threads", "1"])
    assert status == 0, capsys.readouterr()
    force = json.loads((tmp_path / "same" / "comparison.json").read_text())["distances"]["emt"]["force"]
    assert force["value"] == pytest.approx(0.0, abs=1e-9) and force["passed"]
    assert force["detail"]["n_frames"] == 11 and force["detail"]["rms_reference_eV_per_A"] > 0.05
    status = main(["compare", traj, traj, "--reference", "ase:ase.calculators.lj:LennardJones", "--calculator-args",
                   "{sigma: 2.3, epsilon: 0.4, rc: 5.0}", "--out", str(tmp_path / "lj"), "--threads", "1"])
    out = capsys.readouterr().out
    assert status == 1, out
    assert any(line.split()[:2] == ["ase:ase.calculators.lj:LennardJones", "force"] and "FAIL" in line
               for line in out.splitlines()), out
    far = json.loads((tmp_path / "lj" / "comparison.json").read_text())["distances"]
    assert far["ase:ase.calculators.lj:LennardJones"]["force"]["value"] > 0.5
