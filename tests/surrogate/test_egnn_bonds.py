"""Bond-typed edge attributes of the EGNN (``bond_edges``): bond sets, physics with them on, files, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule

from surrogate.egnn.bonds import BondSet, annotate_graphs, bond_set, covalent_bonds
from surrogate.egnn.graph import build_graph
from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.provider import EGNNForceProvider
from systems.errors import InputError

torch.set_num_threads(1)

CUTOFF = 4.0


def ethanol(rattle=0.0, seed=0):
    atoms = molecule("CH3CH2OH")
    if rattle:
        atoms.positions += np.random.default_rng(seed).normal(scale=rattle, size=atoms.positions.shape)
    return atoms


def bonded_model(seed=0, dtype=torch.float64, rule="covalent") -> EGNNEnergyModel:
    """A small model with bond edges whose coordinate branch and bond inputs are switched on strongly."""
    torch.manual_seed(seed)
    model = EGNNEnergyModel([1, 6, 8], CUTOFF, hidden=16, layers=3, bond_edges=rule, dtype=dtype,
                            avg_num_neighbors=6.0)
    with torch.no_grad():
        for layer in model.layers:
            layer.edge_geometry.weight[:, -2:].normal_(0.0, 2.0)  # the one-hot bond columns
            if layer.coord_out is not None:
                layer.coord_out.weight.normal_(0.0, 0.5)
                layer.coord_out.bias.normal_(0.0, 0.5)
        model.energy_scale.fill_(5.0)
    return model


def random_rotation(rng, reflect=False):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q @ np.diag([1.0, 1.0, -1.0]) if reflect else q


# ------------------------------------------------------------------ bond sets
def test_covalent_bonds_of_ethanol_are_its_eight_bonds():
    atoms = ethanol()
    bonds = covalent_bonds(atoms.numbers, atoms.positions)
    sym = atoms.get_chemical_symbols()
    kinds = sorted("".join(sorted((sym[i], sym[j]))) for i, j in bonds)
    assert kinds == sorted(["CC", "CO", "HO"] + ["CH"] * 5)
    # every H has exactly one bond, every C four, the O two
    valence = np.bincount(bonds.ravel(), minlength=len(atoms))
    expected = {"H": 1, "C": 4, "O": 2}
    assert [int(v) for v in valence] == [expected[s] for s in sym]
    # the graph's edges find the same bonds, and flag exactly the 16 directed edges of them
    graph = build_graph(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3, CUTOFF)
    graphs, found = annotate_graphs([graph], "covalent")
    np.testing.assert_array_equal(found.bonds, bonds)
    assert graph.edge_index.shape[1] > 40 and int(graph.edge_bonded.sum()) == 16


def test_bond_set_is_fixed_by_the_first_frame_and_topology_agrees():
    import mdtraj

    atoms = ethanol()
    top = mdtraj.Topology()
    residue = top.add_residue("ETH", top.add_chain())
    elements = [mdtraj.element.Element.getByAtomicNumber(int(z)) for z in atoms.numbers]
    added = [top.add_atom(f"{e.symbol}{k}", e, residue) for k, e in enumerate(elements)]
    cov = covalent_bonds(atoms.numbers, atoms.positions)
    for i, j in cov:
        top.add_bond(added[i], added[j])
    from_top = bond_set("topology", atoms.numbers, atoms.positions, topology=top)
    np.testing.assert_array_equal(from_top.bonds, cov)
    # a stretched O-H in a later frame keeps its flag: the set is that of the first frame
    stretched = atoms.positions.copy()
    o, h = 2, 3  # the hydroxyl O-H of ASE's ethanol
    stretched[h] += 1.5 * (stretched[h] - stretched[o])
    first = build_graph(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3, CUTOFF)
    later = build_graph(atoms.numbers, stretched, np.zeros((3, 3)), [False] * 3, CUTOFF)
    annotate_graphs([first, later], "covalent")
    i, j = later.edge_index.numpy()
    assert later.edge_bonded[(i == o) & (j == h)].item() == 1.0
    assert len(covalent_bonds(atoms.numbers, stretched)) == 7  # by itself the stretched frame has lost it
    with pytest.raises(InputError, match="topology has 9 atoms but the structure 8"):
        bond_set("topology", atoms.numbers[:8], atoms.positions[:8], topology=top)
    with pytest.raises(InputError, match="needs a topology"):
        bond_set("topology", atoms.numbers, atoms.positions)


def test_frames_of_another_system_are_refused():
    a, b = ethanol(), molecule("CH3OCH3")  # same formula, other atom order
    graphs = [build_graph(x.numbers, x.positions, np.zeros((3, 3)), [False] * 3, CUTOFF) for x in (a, b)]
    with pytest.raises(InputError, match="structure 1 is not the system of structure 0"):
        annotate_graphs(graphs, "covalent")


def test_periodic_bond_across_the_boundary():
    """A bond that crosses a periodic boundary is found by minimum image, by both routes."""
    atoms = ethanol()
    atoms.cell = np.eye(3) * 9.0
    atoms.pbc = True
    atoms.positions += np.array([9.0 - atoms.positions[:, 0].mean(), 0, 0])  # straddle x = 9 Å
    atoms.wrap()
    bonds = covalent_bonds(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    assert len(bonds) == 8
    graph = build_graph(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, CUTOFF)
    _, found = annotate_graphs([graph], "covalent")
    np.testing.assert_array_equal(found.bonds, bonds)


# ------------------------------------------------------------------ physics with bond edges on
@pytest.fixture(scope="module")
def model():
    return bonded_model()


def test_bond_flags_change_the_energy(model):
    atoms = ethanol(rattle=0.05)
    with_bonds = EGNNForceProvider(model, skin=0.0).evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)),
                                                             [False] * 3)
    provider = EGNNForceProvider(model, skin=0.0)
    provider.bonds = BondSet(np.zeros((0, 2)), len(atoms))  # no bonds at all
    provider.edge_cache.bonds = provider.bonds
    without = provider.evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3)
    assert abs(with_bonds.energy - without.energy) > 1e-3


@pytest.mark.parametrize("reflect", [False, True])
def test_equivariance_with_bond_edges(model, reflect):
    atoms = ethanol(rattle=0.05)
    zero = np.zeros((3, 3))
    ref = EGNNForceProvider(model, skin=0.0).evaluate(atoms.numbers, atoms.positions, zero, [False] * 3)
    rng = np.random.default_rng(3)
    rot = random_rotation(rng, reflect)
    moved = atoms.positions @ rot.T + rng.normal(size=3) * 5.0
    # a fresh provider derives its bonds from the moved structure: the same set
    out = EGNNForceProvider(model, skin=0.0).evaluate(atoms.numbers, moved, zero, [False] * 3)
    assert out.energy == pytest.approx(ref.energy, abs=1e-10)
    np.testing.assert_allclose(out.forces, ref.forces @ rot.T, atol=1e-10)


def test_forces_are_minus_energy_gradient_with_bond_edges(model):
    atoms = ethanol(rattle=0.05, seed=1)
    zero = np.zeros((3, 3))
    provider = EGNNForceProvider(model, skin=1.0)
    ref = provider.evaluate(atoms.numbers, atoms.positions, zero, [False] * 3)
    h = 1e-5
    for a in (0, 2, 8):
        for c in range(3):
            plus, minus = atoms.positions.copy(), atoms.positions.copy()
            plus[a, c] += h
            minus[a, c] -= h
            e_plus = provider.evaluate(atoms.numbers, plus, zero, [False] * 3).energy
            e_minus = provider.evaluate(atoms.numbers, minus, zero, [False] * 3).energy
            assert -(e_plus - e_minus) / (2 * h) == pytest.approx(ref.forces[a, c], abs=1e-8)


def test_scripted_equals_eager_with_bond_edges(model):
    atoms = ethanol(rattle=0.05, seed=2)
    zero = np.zeros((3, 3))
    scripted = EGNNForceProvider(model, skin=0.5)
    eager = EGNNForceProvider(model, skin=0.5, script=False)
    assert scripted.scripted and not eager.scripted
    a = scripted.evaluate(atoms.numbers, atoms.positions, zero, [False] * 3)
    b = eager.evaluate(atoms.numbers, atoms.positions, zero, [False] * 3)
    assert a.energy == pytest.approx(b.energy, abs=1e-10)
    np.testing.assert_allclose(a.forces, b.forces, atol=1e-10)


def test_provider_keeps_its_bonds_and_refuses_another_system(model):
    provider = EGNNForceProvider(model, skin=0.5)
    atoms = ethanol()
    provider.evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3)
    assert len(provider.bonds) == 8
    small = atoms[:6]
    with pytest.raises(InputError, match="derived for 9 atoms"):
        provider.evaluate(small.numbers, small.positions, np.zeros((3, 3)), [False] * 3)


def test_model_without_flags_says_so(model):
    atoms = ethanol()
    graph = build_graph(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3, CUTOFF)
    with pytest.raises(RuntimeError, match="bond-typed edges"):
        model(model.species_index(graph.numbers), graph.pos, graph.edge_index, graph.shifts, graph.cell,
              torch.zeros(len(atoms), dtype=torch.long))


# ------------------------------------------------------------------ training, files, CLI
def emt_frames(n=8, seed=0):
    from ase.calculators.emt import EMT

    from surrogate.egnn.data import frame_from_atoms

    frames = []
    for k in range(n):
        atoms = ethanol(rattle=0.08, seed=seed + k)
        atoms.calc = EMT()
        frames.append(frame_from_atoms(atoms, k))
    return frames


def test_trained_model_with_bond_edges_saves_loads_and_evaluates_identically(tmp_path):
    from surrogate.calculator import SurrogateCalculator
    from surrogate.egnn.autograd_forces import energy_forces_stress
    from surrogate.egnn.graph import single_batch
    from surrogate.egnn.train import load_egnn, train_egnn
    from surrogate.model_file import load_model_file

    path = train_egnn(emt_frames(), tmp_path / "m", cutoff=CUTOFF, hidden=8, layers=2, max_epochs=2,
                      batch_size=4, bond_edges="covalent", progress=False, val_fraction=0.25)
    header, _ = load_model_file(path, expected_kind="egnn")
    assert header["architecture"]["bond_edges"] == "covalent"
    assert "bonds" not in str(header).replace("bond_edges", "")  # the rule is stored, never a bond list
    model = load_egnn(path, dtype="float64")
    assert model.bond_edges == "covalent" and model.use_bond_edges
    atoms = ethanol(rattle=0.06, seed=40)
    graph = single_batch(build_graph(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3, CUTOFF))
    annotate_graphs([graph], "covalent")
    direct = energy_forces_stress(model, graph)
    from_file = EGNNForceProvider(path, dtype="float64").evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)),
                                                                 [False] * 3)
    assert from_file.energy == pytest.approx(float(direct.energy.detach().sum()), abs=1e-10)
    np.testing.assert_allclose(from_file.forces, direct.forces.detach().numpy(), atol=1e-10)
    calc_atoms = atoms.copy()
    calc_atoms.calc = SurrogateCalculator(str(path), dtype="float64")
    assert calc_atoms.get_potential_energy() == pytest.approx(from_file.energy, abs=1e-10)
    np.testing.assert_allclose(calc_atoms.get_forces(), from_file.forces, atol=1e-10)


def test_model_files_without_the_option_load_as_before(tmp_path):
    from surrogate.egnn.train import load_egnn, model_header
    from surrogate.model_file import save_model_file

    old = EGNNEnergyModel([1, 6, 8], CUTOFF, hidden=8, layers=2)
    header = model_header(old)
    del header["architecture"]["bond_edges"]  # as written before the option existed
    path = save_model_file(tmp_path / "old.pt", old.state_dict(), header)
    loaded = load_egnn(path)
    assert loaded.bond_edges == "none" and not loaded.use_bond_edges
    atoms = ethanol()
    a = EGNNForceProvider(old).evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3)
    b = EGNNForceProvider(loaded).evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3)
    assert a.energy == b.energy


def test_unknown_bond_edges_value_is_refused(tmp_path, capsys):
    from surrogate.cli import main
    from surrogate.egnn.train import train_egnn

    with pytest.raises(InputError, match="bond_edges must be one of none, covalent, topology, got 'ionic'"):
        train_egnn(emt_frames(2), tmp_path / "x", bond_edges="ionic", max_epochs=1, progress=False)
    with pytest.raises(InputError, match="got 'ionic'"):
        EGNNEnergyModel([1], CUTOFF, bond_edges="ionic")
    data = tmp_path / "d.extxyz"
    data.write_text("")
    assert main(["train", "egnn", str(data), "--bond-edges", "ionic", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "--bond-edges" in err and "ionic" in err and "covalent" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "o").exists()


def test_cli_trains_with_topology_bonds_and_run_uses_them(tmp_path, capsys):
    """``surrogate train egnn --top eth.pdb --bond-edges topology`` writes a model with the rule; ``surrogate run
    --system eth.pdb`` takes the bonds from that PDB and runs it."""
    import ase.io
    import mdtraj

    from surrogate.cli import main
    from surrogate.egnn.train import load_egnn

    atoms = ethanol()
    top = mdtraj.Topology()
    residue = top.add_residue("ETH", top.add_chain())
    added = [top.add_atom(f"{s}{k}", mdtraj.element.get_by_symbol(s), residue)
             for k, s in enumerate(atoms.get_chemical_symbols())]
    for i, j in covalent_bonds(atoms.numbers, atoms.positions):
        top.add_bond(added[i], added[j])
    pdb = tmp_path / "eth.pdb"
    mdtraj.Trajectory(atoms.positions[None] / 10.0, top).save_pdb(str(pdb))
    data = tmp_path / "eth.extxyz"
    images = []
    for frame in emt_frames(6):
        image = atoms.copy()
        image.positions = frame.positions
        image.info["energy"] = frame.energy
        image.arrays["forces"] = np.asarray(frame.forces)
        images.append(image)
    ase.io.write(data, images, format="extxyz")
    out = tmp_path / "model"
    status = main(["train", "egnn", str(data), "--top", str(pdb), "--bond-edges", "topology", "--cutoff", "4",
                   "--hidden", "8", "--layers", "2", "--max-epochs", "1", "--val-fraction", "0.34",
                   "--no-progress", "--out", str(out)])
    assert status == 0, capsys.readouterr().err
    assert load_egnn(out / "best.pt").bond_edges == "topology"
    status = main(["run", "--model", str(out / "best.pt"), "--system", str(pdb), "--steps", "3",
                   "--temperature-K", "300", "--equilibrate-ps", "0", "--no-progress", "--out", str(tmp_path / "run")])
    assert status == 0, capsys.readouterr().err
    # without a topology the same model cannot know its bonds, and says so
    with pytest.raises(InputError, match="needs a topology"):
        EGNNForceProvider(out / "best.pt").evaluate(atoms.numbers, atoms.positions, np.zeros((3, 3)), [False] * 3)
