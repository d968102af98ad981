"""Physics of the EGNN energy model: symmetry, F = −∇E, stress, extensivity, smoothness, safety."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from surrogate.egnn import EGNNLayer
from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.provider import EGNNForceProvider
from systems.errors import InputError

CUTOFF = 3.2  # Å; shorter than half of every cell below except where thin cells are tested on purpose


def random_model(seed=0, dtype=torch.float64, cutoff=CUTOFF, layers=3, envelope="cosine") -> EGNNEnergyModel:
    """A small float64 model whose coordinate branch is switched on strongly (so it is really tested)."""
    torch.manual_seed(seed)
    model = EGNNEnergyModel([13, 29], cutoff, hidden=16, layers=layers, envelope=envelope, dtype=dtype,
                            avg_num_neighbors=8.0)
    with torch.no_grad():
        for layer in model.layers:
            if layer.coord_out is not None:
                layer.coord_out.weight.normal_(0.0, 0.5)
                layer.coord_out.bias.normal_(0.0, 0.5)
        model.reference_energies.copy_(torch.tensor([-1.3, -2.1]))
        model.energy_scale.fill_(20.0)
    return model


def random_rotation(rng, reflect=False) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    if reflect:
        q = q @ np.diag([1.0, 1.0, -1.0])
    return q


def alloy(repeat=2, rattle=0.15, seed=1):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)
    rng = np.random.default_rng(seed)
    atoms.numbers[rng.permutation(len(atoms))[: len(atoms) // 3]] = 13
    atoms.positions += rng.normal(scale=rattle, size=atoms.positions.shape)
    return atoms


def cluster(seed=2):
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms = atoms[np.linalg.norm(atoms.positions - atoms.positions.mean(0), axis=1) < 4.0]
    atoms.pbc = False
    atoms.cell = np.zeros((3, 3))
    atoms.numbers[::3] = 13
    atoms.positions += rng.normal(scale=0.15, size=atoms.positions.shape)
    return atoms


def evaluate(model, numbers, positions, cell, pbc, stress=False):
    return EGNNForceProvider(model, skin=0.0).evaluate(numbers, positions, cell, pbc, stress=stress)


@pytest.fixture(scope="module")
def model():
    return random_model()


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("reflect", [False, True])
def test_energy_invariant_forces_equivariant_under_rotation_reflection_translation(model, periodic, reflect):
    atoms = alloy() if periodic else cluster()
    rng = np.random.default_rng(3)
    q = random_rotation(rng, reflect)
    shift = rng.normal(size=3) * 2.0
    ref = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=periodic)
    moved = evaluate(model, atoms.numbers, atoms.positions @ q.T + shift, atoms.cell.array @ q.T, atoms.pbc,
                     stress=periodic)
    assert abs(ref.energy) > 1.0 and np.abs(ref.forces).max() > 1e-3  # a non-trivial test
    assert moved.energy == pytest.approx(ref.energy, abs=1e-10)
    np.testing.assert_allclose(moved.forces, ref.forces @ q.T, atol=1e-10)
    np.testing.assert_allclose(moved.energies, ref.energies, atol=1e-10)
    if periodic:
        np.testing.assert_allclose(moved.stress, q @ ref.stress @ q.T, atol=1e-10)


@pytest.mark.parametrize("periodic", [True, False])
def test_permutation_invariance(model, periodic):
    atoms = alloy() if periodic else cluster()
    perm = np.random.default_rng(4).permutation(len(atoms))
    ref = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    out = evaluate(model, atoms.numbers[perm], atoms.positions[perm], atoms.cell.array, atoms.pbc)
    assert out.energy == pytest.approx(ref.energy, abs=1e-10)
    np.testing.assert_allclose(out.forces, ref.forces[perm], atol=1e-10)


def test_periodic_images_are_equivalent(model):
    """Moving an atom by a lattice vector changes nothing (the edge shift absorbs it)."""
    atoms = alloy()
    moved = atoms.positions.copy()
    moved[0] += atoms.cell.array[1] - 2 * atoms.cell.array[2]
    ref = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    out = evaluate(model, atoms.numbers, moved, atoms.cell.array, atoms.pbc)
    assert out.energy == pytest.approx(ref.energy, abs=1e-10)
    np.testing.assert_allclose(out.forces, ref.forces, atol=1e-10)


@pytest.mark.parametrize("periodic", [True, False])
def test_forces_are_minus_energy_gradient(model, periodic):
    atoms = alloy(rattle=0.2) if periodic else cluster()
    ref = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    h = 1e-5
    rng = np.random.default_rng(5)
    for a in rng.choice(len(atoms), size=4, replace=False):
        for c in range(3):
            plus, minus = atoms.positions.copy(), atoms.positions.copy()
            plus[a, c] += h
            minus[a, c] -= h
            e_plus = evaluate(model, atoms.numbers, plus, atoms.cell.array, atoms.pbc).energy
            e_minus = evaluate(model, atoms.numbers, minus, atoms.cell.array, atoms.pbc).energy
            assert -(e_plus - e_minus) / (2 * h) == pytest.approx(ref.forces[a, c], abs=1e-8)


def test_stress_is_strain_derivative(model):
    atoms = alloy(rattle=0.2)
    atoms.cell.array[0, 1] = 0.3  # a triclinic cell
    cell = atoms.cell.array.copy()
    cell[0, 1] = 0.3
    volume = abs(np.linalg.det(cell))
    ref = evaluate(model, atoms.numbers, atoms.positions, cell, atoms.pbc, stress=True)
    assert np.abs(ref.stress).max() > 1e-4
    h = 1e-6
    for a in range(3):
        for b in range(3):
            strain = np.zeros((3, 3))
            strain[a, b] = strain[b, a] = h / (1 if a == b else 2)  # symmetric; ε_ab + ε_ba = h
            energies = []
            for sign in (1, -1):
                deform = np.eye(3) + sign * strain
                energies.append(evaluate(model, atoms.numbers, atoms.positions @ deform, cell @ deform,
                                         atoms.pbc).energy)
            fd = (energies[0] - energies[1]) / (2 * h) / volume
            assert fd == pytest.approx(ref.stress[a, b], abs=1e-8)
    np.testing.assert_allclose(ref.stress, ref.stress.T, atol=1e-12)


def test_supercell_gives_same_energy_per_atom(model):
    atoms = alloy(repeat=2)
    big = atoms.repeat(2)
    small = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=True)
    large = evaluate(model, big.numbers, big.positions, big.cell.array, big.pbc, stress=True)
    assert large.energy / len(big) == pytest.approx(small.energy / len(atoms), abs=1e-10)
    np.testing.assert_allclose(large.forces[: len(atoms)], small.forces, atol=1e-10)
    np.testing.assert_allclose(large.stress, small.stress, atol=1e-10)


def test_thin_cell_counts_every_image(model):
    """A primitive cell thinner than the cutoff equals its cubic supercell per atom."""
    prim = bulk("Cu", "fcc", a=3.6)  # 1 atom, plane spacing ~2.1 Å < cutoff
    cubic = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    e1 = evaluate(model, prim.numbers, prim.positions, prim.cell.array, prim.pbc).energy
    e2 = evaluate(model, cubic.numbers, cubic.positions, cubic.cell.array, cubic.pbc).energy
    assert e1 == pytest.approx(e2 / len(cubic), abs=1e-10)


@pytest.mark.parametrize("envelope", ["cosine", "polynomial"])
def test_energy_and_forces_continuous_at_cutoff(envelope):
    model = random_model(envelope=envelope)
    numbers = np.array([29, 13])
    cell, pbc = np.zeros((3, 3)), np.zeros(3, bool)
    direction = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    out = {}
    for d in (CUTOFF - 1e-7, CUTOFF + 1e-7, CUTOFF + 0.5):
        out[d] = evaluate(model, numbers, np.array([np.zeros(3), d * direction]), cell, pbc)
    inside, outside, far = out[CUTOFF - 1e-7], out[CUTOFF + 1e-7], out[CUTOFF + 0.5]
    assert inside.energy == pytest.approx(outside.energy, abs=1e-9)
    assert outside.energy == pytest.approx(far.energy, abs=1e-12)  # no interaction beyond the cutoff
    assert np.abs(inside.forces).max() < 1e-6 and np.abs(outside.forces).max() == 0.0
    # Closer in, the pair does interact (the continuity above is not vacuous).
    near = evaluate(model, numbers, np.array([np.zeros(3), 2.0 * direction]), cell, pbc)
    assert abs(near.energy - far.energy) > 1e-5


def test_no_nan_with_coincident_atoms():
    model = random_model()
    positions = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.5, 0.2, 0.1]])
    out = evaluate(model, np.array([29, 29, 13]), positions, np.zeros((3, 3)), np.zeros(3, bool))
    assert np.isfinite(out.energy) and np.isfinite(out.forces).all()
    # Parameter gradients of a force loss (double backward) are finite too.
    from surrogate.egnn.autograd_forces import energy_forces_stress
    from surrogate.egnn.graph import build_graph, single_batch

    graph = single_batch(build_graph([29, 29, 13], positions, np.zeros((3, 3)), np.zeros(3, bool), CUTOFF))
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    res = energy_forces_stress(model, graph, training=True)
    (res.energy.sum() + res.forces.pow(2).sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_coordinate_updates_stay_bounded_in_a_deep_stack():
    """|dx_i| ≤ 1 per layer (tanh, normalised differences, smooth mean), even with huge weights."""
    torch.manual_seed(0)
    layer = EGNNLayer(8, coord_aggr="smooth_mean").double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0.0, 50.0)
    x = torch.randn(30, 3, dtype=torch.float64) * 5
    h = torch.randn(30, 8, dtype=torch.float64)
    edge_index = torch.tensor([[i, j] for i in range(30) for j in range(30) if i != j]).T
    weight = torch.rand(edge_index.shape[1], dtype=torch.float64)
    for _ in range(20):
        h, dx = layer(h, edge_index, x[edge_index[1]] - x[edge_index[0]], edge_weight=weight)
        assert dx.norm(dim=1).max() <= 1.0 and torch.isfinite(h).all()
        x = x + dx


def test_layer_equivariance_without_envelope():
    """The bare layer (paper's mean aggregation) is E(n)-equivariant."""
    torch.manual_seed(1)
    layer = EGNNLayer(8, edge_attr_dim=2).double()
    with torch.no_grad():
        layer.coord_out.weight.normal_(0.0, 1.0)
    x = torch.randn(7, 3, dtype=torch.float64)
    h = torch.randn(7, 8, dtype=torch.float64)
    edge_index = torch.tensor([[i, j] for i in range(7) for j in range(7) if i != j]).T
    attr = torch.randn(edge_index.shape[1], 2, dtype=torch.float64)
    q = torch.from_numpy(random_rotation(np.random.default_rng(0), reflect=True))
    h1, dx1 = layer(h, edge_index, x[edge_index[1]] - x[edge_index[0]], attr)
    y = x @ q.T + 3.0
    h2, dx2 = layer(h, edge_index, y[edge_index[1]] - y[edge_index[0]], attr)
    torch.testing.assert_close(h2, h1, atol=1e-12, rtol=0)
    torch.testing.assert_close(dx2, dx1 @ q.T, atol=1e-12, rtol=0)
    assert dx1.abs().max() > 1e-3


@pytest.mark.parametrize("coord_aggr", ["mean", "sum", "smooth_mean"])
def test_layer_computes_the_documented_equations(coord_aggr):
    """EGNNLayer equals its module docstring written out edge by edge in numpy (float64, random weights,
    edge attributes, an envelope, a node with no edges): what it computes is pinned, not just its symmetry."""
    torch.manual_seed(3)
    F, A, n, ell = 6, 2, 6, 2.5
    layer = EGNNLayer(F, edge_attr_dim=A, coord_aggr=coord_aggr, aggr_norm=3.0, length_scale=ell).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0.0, 0.7)
    rng = np.random.default_rng(4)
    x, h = rng.normal(size=(n, 3)) * 2.0, rng.normal(size=(n, F))
    edges = [(i, j) for i in range(n - 1) for j in range(n - 1) if i != j and rng.random() < 0.7]  # atom n-1: none
    ei = np.array(edges).T
    attr, w = rng.normal(size=(len(edges), A)), rng.uniform(0.0, 1.0, size=len(edges))
    h_new, dx = layer(torch.from_numpy(h), torch.from_numpy(ei), torch.from_numpy(x[ei[1]] - x[ei[0]]),
                      torch.from_numpy(attr), torch.from_numpy(w))

    P = {k: v.detach().numpy() for k, v in layer.state_dict().items()}
    Wab, bab = P["edge_nodes.weight"], P["edge_nodes.bias"]
    Wa, Wb, b1 = Wab[:F], Wab[F:], bab[:F] + bab[F:]  # both halves carry a bias; their sum is b_1
    Wr, Wf_full = P["edge_geometry.weight"], P["edge_filter.weight"]
    Wf, bf = Wf_full[:, :-1], Wf_full[:, -1]
    W3, b3, W4, b4 = P["node_mlp.0.weight"], P["node_mlp.0.bias"], P["node_mlp.2.weight"], P["node_mlp.2.bias"]
    v, c = P["coord_out.weight"][0], P["coord_out.bias"][0]
    silu = lambda z: z / (1.0 + np.exp(-z))  # noqa: E731
    S, Wsum = np.zeros((n, F)), np.zeros(n)
    D, count = np.zeros((n, 3)), np.zeros(n)
    for k, (i, j) in enumerate(edges):
        r = x[j] - x[i]
        g = np.concatenate([[r @ r / ell**2], attr[k]])
        u = silu(Wa @ h[i] + Wb @ h[j] + Wr @ g + b1) * w[k] * (Wf @ g + bf)
        S[i] += u
        Wsum[i] += w[k]
        phi = np.tanh(v @ u + c)
        D[i] += (x[i] - x[j]) / (np.sqrt(r @ r + 1e-8) + 1.0) * phi * w[k]
        count[i] += 1
    C = {"mean": 1.0 / np.maximum(count, 1.0), "sum": np.ones(n), "smooth_mean": 1.0 / (1.0 + Wsum)}[coord_aggr]
    expected_h = np.array([h[i] + W4 @ silu(W3 @ np.concatenate([h[i], S[i] / 3.0, [Wsum[i] / 3.0]]) + b3) + b4
                           for i in range(n)])
    np.testing.assert_allclose(h_new.detach().numpy(), expected_h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx.detach().numpy(), C[:, None] * D, rtol=0, atol=1e-12)
    assert np.abs(D).max() > 1e-2 and np.all(dx.detach().numpy()[n - 1] == 0.0)


def test_float32_default_and_dtype_option(model):
    atoms = alloy()
    m32 = EGNNEnergyModel(**model.config())
    assert m32.dtype == torch.float32
    m32.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    r32 = evaluate(m32, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    r64 = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
    assert r32.forces.dtype == np.float64  # the provider always hands back float64
    assert r32.energy == pytest.approx(r64.energy, rel=1e-5)
    np.testing.assert_allclose(r32.forces, r64.forces, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(model):
    atoms = alloy()
    cpu = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=True)
    gpu = EGNNForceProvider(random_model(), device="cuda", skin=0.0).evaluate(
        atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=True)
    assert gpu.energy == pytest.approx(cpu.energy, abs=1e-9)
    np.testing.assert_allclose(gpu.forces, cpu.forces, atol=1e-9)
    np.testing.assert_allclose(gpu.stress, cpu.stress, atol=1e-9)


def test_unknown_element_is_named(model):
    with pytest.raises(InputError, match="Au"):
        evaluate(model, np.array([29, 79]), np.array([[0, 0, 0], [2.0, 0, 0]], float), np.zeros((3, 3)),
                 np.zeros(3, bool))


def test_provider_skin_reuses_neighbor_list(model):
    """With a skin the provider rebuilds only after large moves, and gives the same answer as a fresh list."""
    atoms = alloy()
    provider = EGNNForceProvider(model, skin=1.0)
    rng = np.random.default_rng(6)
    positions = atoms.positions.copy()
    for _ in range(5):
        positions += rng.normal(scale=0.02, size=positions.shape)
        out = provider.evaluate(atoms.numbers, positions, atoms.cell.array, atoms.pbc)
        fresh = evaluate(model, atoms.numbers, positions, atoms.cell.array, atoms.pbc)
        assert out.energy == pytest.approx(fresh.energy, abs=1e-10)
        np.testing.assert_allclose(out.forces, fresh.forces, atol=1e-10)
    assert provider.neighbor_list.n_builds == 1


def test_provider_refuses_nan_weights_and_nan_positions():
    """NaN weights (a diverged training run) or a NaN position raise NonFiniteError naming the model and atoms."""
    from systems.forces import NonFiniteError
    from systems.state import System

    model = random_model(seed=5)
    atoms = alloy()
    system = System.from_atoms(atoms)
    assert np.isfinite(EGNNForceProvider(model).compute(system).forces).all()
    with torch.no_grad():
        model.readout[0].weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"EGNN model: non-finite forces on 32 atoms") as info:
        EGNNForceProvider(model).compute(system)
    assert info.value.quantity == "forces" and len(info.value.atoms) == 10

    system.positions[7] = np.nan
    with pytest.raises(NonFiniteError, match="position of atom 7 is not finite") as info:
        EGNNForceProvider(random_model(seed=5)).compute(system)
    assert info.value.atoms == (7,)


def test_reused_graph_is_bit_identical_to_a_fresh_one(model):
    """Edge tensors kept between calls give exactly (bit for bit) what a fresh provider gives, after
    moves within the skin (no rebuild) and after moves that force a rebuild; forces match float rounding."""
    atoms = alloy()
    provider = EGNNForceProvider(model, skin=1.0)
    rng = np.random.default_rng(11)
    positions = atoms.positions.copy()
    provider.evaluate(atoms.numbers, positions, atoms.cell.array, atoms.pbc)
    for scale, rebuilt in ((0.02, False), (0.02, False), (0.6, True), (0.02, False)):
        builds = provider.neighbor_list.n_builds
        positions = positions + rng.normal(scale=scale, size=positions.shape)
        out = provider.evaluate(atoms.numbers, positions, atoms.cell.array, atoms.pbc, stress=True)
        assert (provider.neighbor_list.n_builds > builds) == rebuilt
        fresh = EGNNForceProvider(model, skin=1.0).evaluate(atoms.numbers, positions, atoms.cell.array,
                                                             atoms.pbc, stress=True)
        assert out.energy == fresh.energy
        assert np.array_equal(out.forces, fresh.forces) and np.array_equal(out.stress, fresh.stress)
        assert np.array_equal(out.energies, fresh.energies)
    # unchanged positions and the same pairs within the cutoff: no new edge tensors
    made = provider.edge_cache.n_tensor_builds
    provider.evaluate(atoms.numbers, positions, atoms.cell.array, atoms.pbc)
    assert provider.edge_cache.n_tensor_builds == made


def test_scripted_model_matches_eager(model):
    """The TorchScript path computes the same energy, forces and stress as the eager module (float64)."""
    atoms = alloy()
    scripted = EGNNForceProvider(model, skin=0.5)
    eager = EGNNForceProvider(model, skin=0.5, script=False)
    assert scripted.scripted and not eager.scripted
    a = scripted.evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=True)
    b = eager.evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=True)
    assert a.energy == pytest.approx(b.energy, abs=1e-10)
    np.testing.assert_allclose(a.forces, b.forces, atol=1e-10)
    np.testing.assert_allclose(a.stress, b.stress, atol=1e-12)


def test_provider_changing_atoms_rebuilds_species_and_edges(model):
    """A different set of atoms in the same provider (other numbers, other count) is not served stale tensors."""
    provider = EGNNForceProvider(model, skin=1.0)
    big, small = alloy(), alloy()[:20]
    for atoms in (big, small, big):
        out = provider.evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
        fresh = evaluate(model, atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc)
        assert out.forces.shape == (len(atoms), 3)
        np.testing.assert_allclose(out.forces, fresh.forces, atol=1e-10)
