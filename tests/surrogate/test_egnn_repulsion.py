"""The EGNN's optional ZBL repulsion: the ZBL formula, zero beyond its per-pair radius, forces = −∇E (also
through TorchScript), stored in the model file, and old files (no such field) still load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.provider import EGNNForceProvider
from surrogate.egnn.repulsion import ZBLRepulsion
from surrogate.egnn.train import load_egnn, save_egnn
from systems.state import System


def _dimer(r, z=(8, 8)):
    return System(positions=np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]]), numbers=np.array(z),
                  masses=np.array([16.0, 16.0]), cell=np.zeros((3, 3)), pbc=np.array([False] * 3))


def test_zbl_energy_is_the_screened_coulomb_formula_inside_and_zero_beyond_the_radius():
    rep = ZBLRepulsion([8], radii=[[2.5]]).double()
    edges = torch.tensor([[0, 1], [1, 0]])
    species = torch.tensor([0, 0])
    r = 1.2
    e = rep(species, edges, torch.tensor([r, r], dtype=torch.float64)).sum().item()
    a = 0.46850 / (2 * 8**0.23)
    x = r / a
    phi = 0.18175 * np.exp(-3.19980 * x) + 0.50986 * np.exp(-0.94229 * x) + 0.28022 * np.exp(-0.40290 * x) \
        + 0.02817 * np.exp(-0.20162 * x)
    s = r / 2.5
    envelope = 1 - 28 * s**6 + 48 * s**7 - 21 * s**8
    assert e == pytest.approx(14.399645478425668 * 64 / r * phi * envelope, rel=1e-10)
    assert rep(species, edges, torch.tensor([2.5, 2.5], dtype=torch.float64)).abs().max().item() == 0.0
    assert rep(species, edges, torch.tensor([3.0, 3.0], dtype=torch.float64)).abs().max().item() == 0.0


def test_model_with_zbl_forces_are_minus_the_energy_gradient_and_it_compiles(tmp_path):
    torch.manual_seed(0)
    model = EGNNEnergyModel([8], cutoff=4.0, hidden=8, layers=1, pair_repulsion="zbl", repulsion_radii=[[2.6]],
                            dtype="float64")
    plain = EGNNEnergyModel([8], cutoff=4.0, hidden=8, layers=1, dtype="float64")
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("repulsion.")})
    provider = EGNNForceProvider(model)
    assert provider.scripted  # the repulsion runs inside the TorchScript compilation
    r, h = 1.5, 1e-5
    res = provider.compute(_dimer(r))
    fd = (provider.compute(_dimer(r + h)).energy - provider.compute(_dimer(r - h)).energy) / (2 * h)
    assert res.forces[1, 0] == pytest.approx(-fd, rel=1e-6, abs=1e-8)
    # the repulsion pushes the pair apart, and is the only difference from the plain network
    learned = EGNNForceProvider(plain).compute(_dimer(r))
    assert res.forces[1, 0] - learned.forces[1, 0] > 1.0  # eV/Å, outward on atom 1
    far = EGNNForceProvider(plain).compute(_dimer(3.0))
    assert provider.compute(_dimer(3.0)).energy == pytest.approx(far.energy, abs=1e-12)
    path = save_egnn(model, tmp_path / "zbl.pt")
    loaded = load_egnn(path)
    assert loaded.config()["pair_repulsion"] == "zbl" and loaded.config()["repulsion_radii"] == [[2.6]]
    assert EGNNForceProvider(loaded).compute(_dimer(r)).energy == pytest.approx(res.energy, rel=1e-12)
    old = save_egnn(plain, tmp_path / "plain.pt")  # a file without the field loads as before
    assert "pair_repulsion" not in load_egnn(old).config()


def test_training_sets_each_radius_to_the_pair_closest_approach_in_the_data(tmp_path):
    from surrogate.cli import main
    from surrogate.demo.water import shipped_reference
    from systems.trajectory_reader import read_frames

    data = shipped_reference() / "trajectory.extxyz"
    assert main(["train", "egnn", str(data), "--stride", "20", "--max-epochs", "1", "--cutoff", "4", "--hidden",
                 "4", "--layers", "1", "--pair-repulsion", "zbl", "--threads", "1", "--no-progress", "--seed", "0",
                 "--out", str(tmp_path / "m")]) == 0
    radii = load_egnn(tmp_path / "m" / "best.pt").config()["repulsion_radii"]  # species H, O
    frames = [f.to_system() for f in read_frames(data)][::20]
    from ase.geometry import get_distances

    def closest(z1, z2):
        best = np.inf
        for s in frames:
            a, b = s.positions[s.numbers == z1], s.positions[s.numbers == z2]
            _, d = get_distances(a, b, cell=s.cell, pbc=s.pbc)
            if z1 == z2:
                d = d[~np.eye(len(a), dtype=bool)]
            best = min(best, d.min())
        return best

    assert radii[0][0] == pytest.approx(closest(1, 1), abs=1e-6)
    assert radii[0][1] == pytest.approx(closest(1, 8), abs=1e-6)
    assert radii[1][1] == pytest.approx(closest(8, 8), abs=1e-6)


def test_zbl_near_its_switch_off_keeps_float32_precision():
    """Just inside the radius the envelope is tiny; float32 must still give it to float32 precision relative to
    float64 (the expanded polynomial cancelled to errors 1e5 times the value there)."""
    rep64 = ZBLRepulsion([1, 8]).double()
    rep32 = ZBLRepulsion([1, 8]).float()
    radius = rep64.radii_table()[0][1]  # O–H: the covalent-radii sum, about the O–H bond length
    edges = torch.tensor([[0, 1], [1, 0]])
    species = torch.tensor([0, 1])
    for x in (0.97, 0.99, 0.995):
        r = x * radius
        e64 = rep64(species, edges, torch.tensor([r, r], dtype=torch.float64)).sum().item()
        e32 = rep32(species, edges, torch.tensor([r, r], dtype=torch.float32)).sum().item()
        assert e64 > 0
        assert abs(e32 - e64) <= 2e-4 * e64, (x, e32, e64)
