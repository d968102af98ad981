"""The metatomic export: the exported TorchScript model, loaded back through metatomic-ase, gives our
calculator's energies, forces, stress and per-atom energies (molecule and triclinic periodic cell, float32 and
float64); committees add energy_ensemble and energy_uncertainty; the CLI writes the file and refuses what it
cannot export."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule

from surrogate.calculator import SurrogateCalculator
from surrogate.cli import main
from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.train import save_egnn
from surrogate.export import build_atomistic_model, export_metatomic, import_metatomic

from .model_file_helpers import lstm_file

mta = import_metatomic()  # before metatomic_ase: torch_geometric is already imported (see surrogate.export._import)
from metatomic_ase import MetatomicCalculator  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

#: metatomic-ase against ours, the issue's goals (eV/Å); energies are held to the same per atom
FORCE_TOL = {"float32": 1e-5, "float64": 1e-10}


@pytest.fixture(autouse=True)
def unoptimized_torchscript():
    """TorchScript without its profiling optimiser, as our calculator runs it: the optimiser's fused kernels
    compile for seconds on each model's second call (a test makes few calls) and round differently;
    ``benchmarks/engine_metatomic.py`` measures with the engines' default executor."""
    with torch.jit.optimized_execution(False):
        yield


def tiny_model(seed: int, dtype: str, zbl: bool = True) -> EGNNEnergyModel:
    torch.manual_seed(seed)
    model = EGNNEnergyModel([1, 6, 8], cutoff=3.0, hidden=8, layers=2, n_radial=4, avg_num_neighbors=6.0,
                            pair_repulsion="zbl" if zbl else None, dtype=dtype)
    # Energies of a realistic size: per-species offsets and a 0.5 eV scale, as training would set them.
    with torch.no_grad():
        model.reference_energies.copy_(torch.tensor([-13.6, -1029.0, -2040.0]))
        model.energy_scale.fill_(0.5)
    return model.eval()


def ethanol() -> Atoms:
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.05, seed=1)
    return atoms


def water_triclinic() -> Atoms:
    """Four water molecules in a triclinic 4.6 Å cell: the 3 Å cutoff reaches periodic images."""
    rng = np.random.default_rng(3)
    water = molecule("H2O")
    atoms = Atoms(cell=[[4.6, 0.0, 0.0], [0.7, 4.5, 0.0], [-0.4, 0.6, 4.7]], pbc=True)
    for centre in ([0.25, 0.25, 0.25], [0.75, 0.75, 0.25], [0.75, 0.25, 0.75], [0.25, 0.75, 0.75]):
        w = water.copy()
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.translate(np.asarray(centre) @ atoms.cell.array)
        atoms += w
    atoms.rattle(0.03, seed=2)
    atoms.wrap()
    return atoms


@pytest.fixture(scope="module", params=["float32", "float64"])
def exported(request, tmp_path_factory):
    """(dtype, [member models], path of a single-model export, path of a two-member committee export)."""
    dtype = request.param
    members = [tiny_model(0, dtype), tiny_model(1, dtype)]
    folder = tmp_path_factory.mktemp(f"mta-{dtype}")
    single = export_metatomic(members[0], folder / "single.pt")
    committee = export_metatomic(members, folder / "committee.pt")
    return dtype, members, single, committee


def ours(model, atoms, stress):
    a = atoms.copy()
    a.calc = SurrogateCalculator(model)
    return (a.get_potential_energy(), a.get_forces(), a.get_stress() if stress else None,
            a.get_potential_energies())


@pytest.mark.parametrize("structure", [ethanol, water_triclinic], ids=["molecule", "periodic"])
def test_metatomic_ase_equals_our_calculator(exported, structure):
    dtype, members, single, _ = exported
    atoms = structure()
    periodic = bool(atoms.pbc.all())
    atoms.calc = MetatomicCalculator(str(single), check_consistency=True)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    energies = atoms.get_potential_energies()
    e_ref, f_ref, s_ref, ea_ref = ours(members[0], atoms, periodic)
    tol = FORCE_TOL[dtype]
    assert 0.1 < np.abs(f_ref).max() < 100  # a real test: forces of a molecular size, not zeros
    assert np.abs(forces - f_ref).max() <= tol
    # Energies are ~1e3 eV per atom here: compare at the dtype's resolution of that magnitude.
    e_tol = np.finfo(dtype).eps * 4 * abs(e_ref)
    assert abs(energy - e_ref) <= e_tol
    assert np.abs(energies - ea_ref).max() <= np.finfo(dtype).eps * 4 * np.abs(ea_ref).max()
    if periodic:
        stress = atoms.get_stress()
        assert np.abs(s_ref).max() > 1e-4
        assert np.abs(stress - s_ref).max() <= tol / 10  # eV/Å³: a strain derivative over a ~100 Å³ volume


def test_batch_of_two_systems_equals_one_at_a_time(exported):
    """metatomic-ase's compute_energy batches structures of different sizes into one model call."""
    dtype, members, single, _ = exported
    calc = MetatomicCalculator(str(single), check_consistency=True)
    structures = [ethanol(), water_triclinic()]
    out = calc.compute_energy(structures, compute_forces_and_stresses=True)
    for k, atoms in enumerate(structures):
        e_ref, f_ref, _, _ = ours(members[0], atoms, False)
        assert abs(out["energy"][k] - e_ref) <= np.finfo(dtype).eps * 4 * abs(e_ref)
        assert np.abs(out["forces"][k] - f_ref).max() <= FORCE_TOL[dtype]


def test_committee_mean_ensemble_and_uncertainty(exported):
    dtype, members, _, committee = exported
    atoms = water_triclinic()
    refs = [ours(m, atoms, False) for m in members]
    e_members = np.array([r[0] for r in refs])
    assert abs(e_members[0] - e_members[1]) > 1e-3  # differently seeded members disagree
    atoms.calc = MetatomicCalculator(str(committee), check_consistency=True)
    eps = np.finfo(dtype).eps * 4 * abs(e_members).max()
    assert abs(atoms.get_potential_energy() - e_members.mean()) <= eps
    assert np.abs(atoms.get_forces() - np.mean([r[1] for r in refs], axis=0)).max() <= FORCE_TOL[dtype]
    request = {name: mta.ModelOutput(unit="eV", sample_kind="system")
               for name in ("energy_ensemble", "energy_uncertainty")}
    out = atoms.calc.run_model(atoms, request)
    ensemble = out["energy_ensemble"].block().values.detach().numpy().reshape(-1)
    np.testing.assert_allclose(ensemble, e_members, rtol=0, atol=eps)
    uncertainty = float(out["energy_uncertainty"].block().values.reshape(()))
    assert uncertainty == pytest.approx(np.std(e_members), abs=2 * eps)
    caps = mta.load_atomistic_model(str(committee)).capabilities()
    assert {"energy", "energy_ensemble", "energy_uncertainty"} <= set(caps.outputs.keys())


def test_selected_atoms_sum_only_their_energies(exported):
    """Domain decomposition (LAMMPS): only the selected atoms' energies count, the others stay neighbours."""
    dtype, members, single, _ = exported
    model = mta.load_atomistic_model(str(single))
    atoms = water_triclinic()
    _, _, _, ea_ref = ours(members[0], atoms, False)
    torch_dtype = getattr(torch, dtype)
    system = mta.System(torch.tensor(atoms.numbers, dtype=torch.int32),
                        torch.tensor(atoms.positions, dtype=torch_dtype),
                        torch.tensor(atoms.cell.array, dtype=torch_dtype), torch.ones(3, dtype=torch.bool))
    from vesin.metatomic import compute_requested_neighbors

    compute_requested_neighbors([system], "angstrom", model)
    chosen = [0, 3, 4, 9]
    from metatensor.torch import Labels

    selected = Labels(["system", "atom"], torch.tensor([[0, a] for a in chosen], dtype=torch.int32))
    options = mta.ModelEvaluationOptions(length_unit="angstrom", selected_atoms=selected, outputs={
        "energy": mta.ModelOutput(unit="eV", sample_kind="system")})
    total = float(model([system], options, check_consistency=True)["energy"].block().values)
    assert total == pytest.approx(ea_ref[chosen].sum(), abs=np.finfo(dtype).eps * 8 * abs(total))


def test_capabilities_and_metadata(exported):
    dtype, _, single, committee = exported
    model = mta.load_atomistic_model(str(single))
    caps = model.capabilities()
    assert list(caps.atomic_types) == [1, 6, 8]
    assert caps.length_unit == "angstrom" and caps.dtype == dtype
    assert caps.outputs["energy"].unit == "eV"
    assert caps.interaction_range == pytest.approx(3.0 * 2)  # cutoff × layers: the message-passing range
    (nl,) = model.requested_neighbor_lists()
    assert nl.cutoff == pytest.approx(3.0) and nl.full_list
    assert "cpu" in caps.supported_devices
    refs = model.metadata().references["architecture"]
    assert any("Satorras" in r for r in refs)
    assert set(caps.outputs.keys()) == {"energy"}
    outputs = mta.load_atomistic_model(str(committee)).capabilities().outputs
    assert set(outputs.keys()) == {"energy", "energy_ensemble", "energy_uncertainty"}


def test_cli_exports_a_committee(tmp_path, capsys):
    """A committee file plus a model file make a committee of three; --dtype, --author and the resolved config
    beside the output; the export's mean and spread are those of our committee calculator."""
    from surrogate.egnn.committee import save_committee

    committee = save_committee([tiny_model(0, "float32"), tiny_model(1, "float32")], tmp_path / "committee.pt")
    single = save_egnn(tiny_model(2, "float32"), tmp_path / "m2.pt")
    out = tmp_path / "export" / "model-mta.pt"
    assert main(["export", str(committee), str(single), "--format", "metatomic", "-o", str(out),
                 "--dtype", "float64", "--author", "Test Author"]) == 0
    assert "committee of 3" in capsys.readouterr().out
    assert (tmp_path / "export" / "model-mta.config.yaml").exists()
    atoms = ethanol()
    atoms.calc = MetatomicCalculator(str(out))
    assert atoms.calc.metadata().authors == ["Test Author"]
    members = [tiny_model(seed, "float64") for seed in (0, 1, 2)]
    ref = atoms.copy()
    ref.calc = SurrogateCalculator(members)  # our committee calculator: member mean and population std
    assert np.abs(atoms.get_forces() - ref.get_forces()).max() <= 1e-10
    request = {"energy_uncertainty": mta.ModelOutput(unit="eV", sample_kind="system")}
    spread = float(atoms.calc.run_model(atoms, request)["energy_uncertainty"].block().values.reshape(()))
    assert spread == pytest.approx(ref.calc.get_property("energy_std", ref), rel=1e-9)


def test_cli_refuses_non_egnn_and_bonded_models(tmp_path, capsys):
    lstm = lstm_file(tmp_path / "lstm.pt")
    assert main(["export", str(lstm), "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert str(lstm) in err and "egnn" in err.lower()
    assert not (tmp_path / "x.pt").exists()
    torch.manual_seed(0)
    bonded = EGNNEnergyModel([1, 8], cutoff=3.0, hidden=8, layers=1, n_radial=4, bond_edges="covalent")
    path = save_egnn(bonded, tmp_path / "bonded.pt")
    assert main(["export", str(path), "-o", str(tmp_path / "y.pt")]) == 2
    assert "bond" in capsys.readouterr().err
    assert main(["export", "-o", str(tmp_path / "z.pt")]) == 2


@pytest.mark.skipif(sys.version_info < (3, 12), reason="torch-sim >= 0.5 (needed by metatomic-torchsim) requires "
                                                       f"Python >= 3.12; this is {sys.version.split()[0]}")
def test_torch_sim_bridge_equals_our_calculator(exported):
    """torch-sim's metatomic bridge on the exported file: energy and forces as our calculator's."""
    ts = pytest.importorskip("torch_sim")
    bridge = pytest.importorskip("metatomic_torchsim")
    dtype, members, single, _ = exported
    atoms = water_triclinic()
    model = bridge.MetatomicModel(str(single), device="cpu")
    state = ts.io.atoms_to_state([atoms], device=torch.device("cpu"), dtype=getattr(torch, dtype))
    out = model(state)
    e_ref, f_ref, _, _ = ours(members[0], atoms, False)
    assert abs(float(out["energy"].reshape(-1)[0]) - e_ref) <= np.finfo(dtype).eps * 4 * abs(e_ref)
    assert np.abs(out["forces"].detach().double().numpy().reshape(-1, 3) - f_ref).max() <= FORCE_TOL[dtype]
