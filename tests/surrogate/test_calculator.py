"""SurrogateCalculator with ASE's own MD, optimiser and I/O; the plugin entry point; model-file errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.md.verlet import VelocityVerlet
from ase.optimize import BFGS

from surrogate.calculator import SurrogateCalculator
from surrogate.egnn.provider import EGNNForceProvider
from surrogate.egnn.train import load_egnn, save_egnn
from surrogate.model_file import ModelFileError
from systems.errors import InputError
from systems.velocities import maxwell_boltzmann

CUTOFF = 4.0


def copper(repeat=2, rattle=0.05, seed=0):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    return atoms


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small model briefly trained on EMT copper: smooth, with physical restoring forces."""
    from ase.calculators.emt import EMT

    from surrogate.egnn.train import train_egnn

    frames = []
    for k in range(8):
        atoms = copper(rattle=0.1, seed=k)
        atoms.calc = EMT()
        atoms.get_forces()
        frames.append(atoms)
    path = train_egnn(frames, tmp_path_factory.mktemp("egnn"), cutoff=CUTOFF, hidden=16, layers=2, max_epochs=30,
                      batch_size=4, lr=5e-3, val_fraction=0.25, dtype="float64", progress=False)
    return load_egnn(path)


def test_implemented_properties_is_immutable_and_base_untouched(model):
    before = list(Calculator.implemented_properties)
    calc = SurrogateCalculator(model)
    assert isinstance(SurrogateCalculator.implemented_properties, tuple)
    assert set(calc.implemented_properties) == {"energy", "free_energy", "forces", "stress", "energies"}
    assert Calculator.implemented_properties == before


def test_results_match_the_model(model):
    atoms = copper()
    atoms.calc = SurrogateCalculator(model)
    ref = EGNNForceProvider(model, skin=0.0).evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc,
                                                      stress=True)
    assert atoms.get_potential_energy() == pytest.approx(ref.energy, abs=1e-12)
    assert atoms.get_potential_energy(force_consistent=True) == pytest.approx(ref.energy, abs=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref.forces, atol=1e-12)
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), ref.energy, atol=1e-10)
    stress = atoms.get_stress(voigt=False)
    np.testing.assert_allclose(stress, ref.stress, atol=1e-12)


def test_stress_refused_for_open_boundaries(model):
    atoms = copper()
    atoms.pbc = False
    atoms.calc = SurrogateCalculator(model)
    assert np.isfinite(atoms.get_forces()).all()
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.get_stress()


def test_unknown_elements_are_named(model):
    atoms = copper()
    atoms.numbers[3] = 79
    atoms.numbers[5] = 47
    atoms.calc = SurrogateCalculator(model)
    with pytest.raises(InputError, match=r"Ag, Au.*knows Cu"):
        atoms.get_potential_energy()


def test_nve_with_ase_velocity_verlet_conserves_energy(model):
    atoms = copper(repeat=2, rattle=0.02)
    atoms.calc = SurrogateCalculator(model)
    atoms.set_velocities(maxwell_boltzmann(atoms.get_masses(), 300.0, np.random.default_rng(1)))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    totals, kinetic = [], []

    def record():
        totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        kinetic.append(atoms.get_kinetic_energy())

    dyn.attach(record, interval=1)
    dyn.run(150)
    totals = np.array(totals)
    # The potential really moves energy around (else the test is vacuous) ...
    assert np.ptp(kinetic) > 0.2 * np.mean(kinetic)
    # ... while the total drifts by far less than the kinetic energy.
    assert np.abs(totals - totals[0]).max() < 2e-3 * np.mean(kinetic)


def test_bfgs_relaxes(model):
    atoms = copper(rattle=0.1, seed=3)
    atoms.calc = SurrogateCalculator(model)
    f0 = np.abs(atoms.get_forces()).max()
    e0 = atoms.get_potential_energy()
    BFGS(atoms, logfile=None).run(fmax=1e-3, steps=200)
    assert np.abs(atoms.get_forces()).max() < 1e-3 < f0
    assert atoms.get_potential_energy() < e0


def test_ase_io_round_trip(model, tmp_path):
    from ase.io import read, write

    atoms = copper()
    atoms.calc = SurrogateCalculator(model)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    write(tmp_path / "out.extxyz", atoms)
    back = read(tmp_path / "out.extxyz")
    assert back.get_potential_energy() == pytest.approx(energy, abs=1e-8)
    np.testing.assert_allclose(back.get_forces(), forces, atol=1e-8)


def test_calculator_from_model_file_in_float32(model, tmp_path):
    path = save_egnn(model, tmp_path / "model.pt")
    atoms = copper()
    atoms.calc = SurrogateCalculator(str(path), dtype="float32")
    assert atoms.calc.model.dtype == torch.float32
    ref = EGNNForceProvider(model, skin=0.0).evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    # float32 rounding of a sum over 32 atoms: an absolute bound (the total is small, ~0.1 eV, so rel alone is fragile)
    assert atoms.get_potential_energy() == pytest.approx(ref.energy, rel=1e-5, abs=1e-6 * len(atoms))
    np.testing.assert_allclose(atoms.get_forces(), ref.forces, atol=1e-4)


def test_model_file_errors_name_the_problem(model, tmp_path):
    path = save_egnn(model, tmp_path / "model.pt")
    loaded = load_egnn(path, cutoff=CUTOFF, species=[29])
    assert loaded.config() == model.config()
    with pytest.raises(ModelFileError, match=r"cutoff mismatch.*4\.0 Å.*5\.0 Å"):
        load_egnn(path, cutoff=5.0)
    with pytest.raises(ModelFileError, match=r"Ni.*not in this model"):
        load_egnn(path, species=[29, 28])
    # A file from an incompatible EGNN architecture version.
    from surrogate.egnn.train import model_header
    from surrogate.model_file import save_model_file

    header = model_header(model)
    header["architecture_version"] = 99
    save_model_file(tmp_path / "future.pt", model.state_dict(), header)
    with pytest.raises(ModelFileError, match="architecture version 99 is incompatible"):
        load_egnn(tmp_path / "future.pt")
    # A file of another kind.
    save_model_file(tmp_path / "lstm.pt", {"w": torch.zeros(2)}, {"kind": "lstm"})
    with pytest.raises(ModelFileError, match="'lstm' model, expected 'egnn'"):
        SurrogateCalculator(str(tmp_path / "lstm.pt"))


def test_ase_plugin_is_registered():
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="ase.plugins")}
    assert names.get("surrogate") == "surrogate.ase_plugin"
    from ase._4.plugins import plugins

    found = [p for p in plugins.calculators if p.name == "surrogate"]
    assert len(found) == 1
    assert found[0].implementation is SurrogateCalculator
    assert found[0].version  # ASE found the distribution's metadata (what `ase info --plugins` prints)


def nan_weight_model(model):
    """A copy of ``model`` with one NaN weight in the readout (what a diverged training run leaves)."""
    import copy

    broken = copy.deepcopy(model)
    with torch.no_grad():
        next(p for name, p in broken.named_parameters() if "layers.0.node_mlp" in name).view(-1)[0] = float("nan")
    return broken


def test_nan_weights_raise_a_named_error(model):
    from systems.forces import NonFiniteError

    atoms = copper()
    atoms.calc = SurrogateCalculator(model)
    assert np.isfinite(atoms.get_potential_energy())
    atoms.calc = SurrogateCalculator(nan_weight_model(model))
    with pytest.raises(NonFiniteError, match=r"SurrogateCalculator \(EGNN model\): non-finite forces on 32 atoms"):
        atoms.get_potential_energy()
    with pytest.raises(NonFiniteError):
        atoms.get_forces()
    assert "energy" not in atoms.calc.results  # nothing non-finite was cached for ASE to hand out


@pytest.mark.parametrize("keyword, suggestion", [("devcie", "device"), ("dtpye", "dtype"), ("skn", "skin"),
                                                 ("lable", "label")])
def test_misspelt_keyword_is_refused_with_a_suggestion(model, keyword, suggestion):
    with pytest.raises(InputError, match=rf"unknown keyword `{keyword}` \(did you mean `{suggestion}`\?\)"):
        SurrogateCalculator(model, **{keyword: "cuda"})
    with pytest.raises(InputError, match=r"unknown keyword `frobnicate`; it takes model, device"):
        SurrogateCalculator(model, frobnicate=1)


def test_ase_keywords_are_accepted(model, tmp_path):
    atoms = copper()
    calc = SurrogateCalculator(model, label="cu", directory=str(tmp_path), atoms=atoms)
    assert calc.label == f"{tmp_path}/cu" and atoms.calc is calc
    assert np.isfinite(atoms.get_potential_energy())
