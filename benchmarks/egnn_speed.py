"""EGNN energy + force throughput on liquid argon, against a naive EGNN and a peer MLIP (MACE).

All models run in this process, on the same structures, in float32, with the same
torch and Numba thread counts (pinned with ``--threads``), and are reported in
atom-steps per second (atoms × evaluations / s):

* ``ours``: :class:`surrogate.egnn.provider.EGNNForceProvider` (float32, 4 layers,
  64 features, 8 Gaussian radial functions, cosine envelope, 5 Å cutoff), neighbor list
  with a 1 Å skin INCLUDED in the time (the positions move by a small random step
  between calls, as in MD);
* ``ours_model``: the same model on a prebuilt graph of the same pairs the naive
  model gets, model only: the like-for-like comparison with ``naive`` and ``mace``;
* ``naive``: OUR function written the way the reference EGNN code writes a layer, float32,
  model only (pairs precomputed, not timed). Per edge: φ_e's first layer on the concatenation
  [h_i, h_j, ‖r‖²/ℓ², rbf(r)], SiLU, times the radial filter (W_f g + b_f), then φ_e's output
  layer W_2 (linear: our φ_e has no final activation) applied to every edge; messages summed,
  φ_h a 2-layer MLP on [h_i, m_i]; φ_x ONE linear layer and a tanh (ours; the reference code
  has a 2-layer φ_x), coordinates refined with the smooth-mean aggregation. Its weights are
  mapped onto our model (φ_e's W_2 folded into φ_h's first layer, as ours does), and the
  script checks that the two give the same energy and forces before timing them: the ratio
  measures the implementation (per-node products, W_2 after the aggregation), nothing else;
* ``mace``: mace-torch ``ScaleShiftMACE`` of comparable size (2 interactions,
  hidden irreps 64x0e, max_ell 2, correlation 3, 5 Å cutoff), float32; model only
  (the graph is built once by MACE's own data pipeline, not timed). Skipped with a
  note when mace-torch is not installed.

Timing: the models run round-robin on each box (same background load);
the least-disturbed (minimum) time per call over the repeats gives the
figures and ratios, and the medians are stored beside them. Every target is a
same-run ratio; the speed ratios against the naive model count only where the
naive model was checked to compute our function.

Against the reference (issue 11, 1 thread, float32, the CPU time of the calling thread per call
(``time.thread_time``: all three codes compute in that thread at 1 thread, and on a loaded machine it
is far closer to the quiet wall time than the wall clock), minimum over interleaved repeats,
positions moved by an MD-sized step before every call):

* molecules: ethanol (9 atoms, ASE's g2 geometry) and aspirin (21 atoms, the GFN2-xTB relaxed
  start structure of ``benchmarks/data/aspirin_start.extxyz`` on the refbench branch, copied below);
  our provider with the model size that benchmark trains (64 features, 4 layers, 5 Å cutoff) and a
  32 × 2 model, against GFN2-xTB (tblite) timed live and MACE of similar size (2 interactions,
  64x0e, max_ell 2, 5 Å; its graph built once, not timed);
* periodic water, 8 and 64 molecules at 1 g/cm³ (24 and 192 atoms; 6.21 and 12.42 Å boxes,
  random orientations on a grid, seeded): our provider (64 × 4, 5 Å) against GFN2-xTB, timed live on
  24 atoms always and on 192 atoms in the full mode; ``--quick`` uses the 192-atom xTB time cached
  in :data:`XTB_WATER192_CACHED` (with its date and load).

Usage: ``python benchmarks/egnn_speed.py [--quick] [--threads 2] [--device cpu]``
(``--quick``: 256 and 2048 atoms only, cached 192-atom xTB time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.utils import scatter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import target, write_result  # noqa: E402
from surrogate.egnn.layer import NORM_EPS  # noqa: E402
from surrogate.egnn.model import EGNNEnergyModel  # noqa: E402
from surrogate.egnn.provider import EGNNForceProvider  # noqa: E402
from surrogate.egnn.radial import CutoffEnvelope, GaussianBasis, safe_norm  # noqa: E402
from systems.catalogue import liquid_argon  # noqa: E402
from systems.neighbor_list import build_pairs  # noqa: E402

CUTOFF = 5.0  # Å
HIDDEN = 64
LAYERS = 4
N_RADIAL = 8
AVG_NEIGHBORS = 12.0
DTYPE = torch.float32
#: Largest max|F_naive − F_ours| / max|F_ours| accepted as "the same function" in float32.
SAME_FUNCTION_TOL = 1e-4


# --------------------------------------------------------------------------- naive EGNN
class NaiveEGNNLayer(nn.Module):
    """Our layer's function, written as the reference code writes it: per-edge MLPs on concatenations.

    g_ij = [‖r_ij‖²/ℓ², rbf(‖r_ij‖)];  s_ij = SiLU(W_1 [h_i, h_j, g_ij] + b_1) ⊙ (W_f g_ij + b_f);
    m_ij = w_ij (W_2 s_ij + b_2);  h_i ← h_i + φ_h([h_i, Σ_j m_ij / aggr_norm]);
    dx_i = Σ_j −r_ij tanh(v·(w_ij s_ij) + c) w_ij / (‖r_ij‖ + 1) / (1 + Σ_j w_ij).
    """

    def __init__(self, hidden: int, n_radial: int, update_coords: bool, aggr_norm: float, length_scale: float):
        super().__init__()
        act = nn.SiLU
        self.edge_mlp = nn.Linear(2 * hidden + 1 + n_radial, hidden)  # φ_e first layer, per edge
        self.edge_filter = nn.Linear(1 + n_radial, hidden)  # radial filter W_f g + b_f
        self.edge_out = nn.Linear(hidden, hidden)  # φ_e output layer W_2 (no activation after it), per edge
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), act(), nn.Linear(hidden, hidden))
        self.coord_mlp = nn.Linear(hidden, 1) if update_coords else None  # φ_x: one layer, then tanh
        self.act = act()
        self.aggr_norm = aggr_norm
        self.inv_length2 = 1.0 / length_scale**2

    def forward(self, h, edge_vec, row, col, rbf, w):
        """h [n, F]; edge_vec [E, 3] r_ij = x_j − x_i (image); rbf [E, A]; w [E, 1]: new h and dx [n, 3]."""
        dist2 = (edge_vec**2).sum(-1, keepdim=True)
        g = torch.cat([dist2 * self.inv_length2, rbf], dim=-1)  # [E, 1 + A]
        s = self.act(self.edge_mlp(torch.cat([h[row], h[col], g], dim=-1))) * self.edge_filter(g)  # [E, F]
        m = self.edge_out(s) * w  # [E, F]
        agg = scatter(m, row, 0, dim_size=h.shape[0], reduce="sum") / self.aggr_norm
        h_new = h + self.node_mlp(torch.cat([h, agg], dim=-1))
        if self.coord_mlp is None:
            return h_new, None
        phi = torch.tanh(self.coord_mlp(s * w))
        trans = -edge_vec * phi * w / (torch.sqrt(dist2 + NORM_EPS) + 1.0)
        dx = scatter(trans, row, 0, dim_size=h.shape[0], reduce="sum")
        return h_new, dx / (1.0 + scatter(w, row, 0, dim_size=h.shape[0], reduce="sum"))


class NaiveEGNN(nn.Module):
    """Embedding, L naive layers (no coordinate update in the last), per-atom readout, summed energy."""

    def __init__(self, hidden: int = HIDDEN, layers: int = LAYERS, n_radial: int = N_RADIAL):
        super().__init__()
        self.embedding = nn.Embedding(1, hidden)
        self.envelope = CutoffEnvelope(CUTOFF, "cosine")
        self.radial = GaussianBasis(CUTOFF, n_radial)
        self.layers = nn.ModuleList(NaiveEGNNLayer(hidden, n_radial, k < layers - 1, AVG_NEIGHBORS, CUTOFF)
                                    for k in range(layers))
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def energy(self, species, pos, row, col, offsets):
        """Total energy (eV) of positions ``pos`` [n, 3]; offsets [E, 3] = S·cell (x_j's image is x_j + offset)."""
        edge_vec = pos[col] - pos[row] + offsets
        r = safe_norm(edge_vec)
        w = self.envelope(r).unsqueeze(-1)
        rbf = self.radial(r)
        h = self.embedding(species)
        for layer in self.layers:
            h, dx = layer(h, edge_vec, row, col, rbf, w)
            if dx is not None:
                edge_vec = edge_vec + dx[col] - dx[row]
        return self.readout(h).sum()

    @torch.no_grad()
    def our_state_dict(self, model: EGNNEnergyModel) -> dict:
        """These weights as a state dict of our :class:`EGNNEnergyModel` (the same function).

        φ_e's first layer splits into per-node halves [W_a; W_b] and the geometry block W_r; the filter's
        bias becomes the weight of the envelope column; W_2 and b_2 fold into φ_h's first layer.
        """
        f = self.embedding.weight.shape[1]
        state = dict(model.state_dict())
        state["embedding.weight"] = self.embedding.weight.clone()
        for k, (naive, prefix) in enumerate((layer, f"layers.{k}.") for k, layer in enumerate(self.layers)):
            w1, b1 = naive.edge_mlp.weight, naive.edge_mlp.bias
            state[prefix + "edge_nodes.weight"] = torch.cat([w1[:, :f], w1[:, f:2 * f]], dim=0)
            state[prefix + "edge_nodes.bias"] = torch.cat([b1, torch.zeros_like(b1)])
            state[prefix + "edge_geometry.weight"] = w1[:, 2 * f:].clone()
            state[prefix + "edge_filter.weight"] = torch.cat([naive.edge_filter.weight,
                                                              naive.edge_filter.bias[:, None]], dim=1)
            wh = naive.node_mlp[0].weight  # [F, 2F] on [h, m]
            w_hh, w_hm = wh[:, :f], wh[:, f:]
            state[prefix + "node_mlp.0.weight"] = torch.cat(
                [w_hh, w_hm @ naive.edge_out.weight, (w_hm @ naive.edge_out.bias)[:, None]], dim=1)
            state[prefix + "node_mlp.0.bias"] = naive.node_mlp[0].bias.clone()
            state[prefix + "node_mlp.2.weight"] = naive.node_mlp[2].weight.clone()
            state[prefix + "node_mlp.2.bias"] = naive.node_mlp[2].bias.clone()
            if naive.coord_mlp is not None:
                state[prefix + "coord_out.weight"] = naive.coord_mlp.weight.clone()
                state[prefix + "coord_out.bias"] = naive.coord_mlp.bias.clone()
        for name, value in self.readout.state_dict().items():
            state["readout." + name] = value.clone()
        return state


def build_models(device):
    """The naive model (seeded) and our model carrying the same function (its weights mapped)."""
    torch.manual_seed(0)
    naive = NaiveEGNN().to(device=device, dtype=DTYPE)
    model = EGNNEnergyModel([18], CUTOFF, hidden=HIDDEN, layers=LAYERS, n_radial=N_RADIAL,
                            avg_num_neighbors=AVG_NEIGHBORS, dtype=DTYPE, device=device)
    model.load_state_dict(naive.our_state_dict(model))
    for module in (naive, model):
        for p in module.parameters():
            p.requires_grad_(False)
    return naive, model


def naive_step(naive, system, pairs, device):
    species = torch.zeros(system.n_atoms, dtype=torch.long, device=device)
    row = torch.from_numpy(pairs.i).to(device)
    col = torch.from_numpy(pairs.j).to(device)
    offsets = torch.from_numpy(pairs.shifts.astype(np.float64) @ system.cell).to(device=device, dtype=DTYPE)
    pos0 = torch.from_numpy(system.positions).to(device=device, dtype=DTYPE)

    def step():
        pos = pos0.clone().requires_grad_(True)
        energy = naive.energy(species, pos, row, col, offsets)
        forces = -torch.autograd.grad(energy, pos)[0]
        _sync(device)
        return energy.detach(), forces

    return step


# --------------------------------------------------------------------------- ours
def ours_step(model, system, device):
    """Our force provider (neighbor list with a 1 Å skin included) on positions that move a little each call."""
    provider = EGNNForceProvider(model, device=device, skin=1.0)
    rng = np.random.default_rng(0)
    positions = system.positions.copy()

    def step():
        positions[:] += rng.normal(scale=0.005, size=positions.shape)  # an MD-sized move; the skin list is reused
        out = provider.evaluate(system.numbers, positions, system.cell, system.pbc)
        return out.forces

    return step, provider


def ours_model_step(model, system, pairs, device):
    """Our model on a prebuilt graph (the same pairs the naive model gets): model-only, like the naive and MACE steps."""
    from surrogate.egnn.autograd_forces import energy_forces_stress
    from surrogate.egnn.graph import build_graph, single_batch

    graph = single_batch(build_graph(system.numbers, system.positions, system.cell, system.pbc, CUTOFF,
                                     neighbors=pairs)).to(device)

    def step():
        out = energy_forces_stress(model, graph)
        _sync(device)
        return out.energy.detach().sum(), out.forces

    return step


# --------------------------------------------------------------------------- MACE
def mace_step(system, device):
    try:
        from mace import data as mace_data
        from mace.modules import interaction_classes
        from mace.modules.models import ScaleShiftMACE
        from mace.tools import torch_geometric as mace_geometric
        from mace.tools.utils import AtomicNumberTable
    except ImportError as exc:  # optional peer
        return None, f"mace-torch not installed ({exc})"
    from e3nn import o3

    torch.manual_seed(0)
    model = ScaleShiftMACE(
        r_max=CUTOFF, num_bessel=8, num_polynomial_cutoff=5, max_ell=2,
        interaction_cls=interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2, num_elements=1, hidden_irreps=o3.Irreps("64x0e"), MLP_irreps=o3.Irreps("16x0e"),
        atomic_energies=np.zeros(1), avg_num_neighbors=12.0, atomic_numbers=[18], correlation=3,
        gate=torch.nn.functional.silu, atomic_inter_scale=1.0, atomic_inter_shift=0.0,
    ).to(device=device, dtype=torch.float32)
    n_params = sum(p.numel() for p in model.parameters())
    atoms = system.to_atoms()
    config = mace_data.config_from_atoms(atoms)
    graph = mace_data.AtomicData.from_config(config, z_table=AtomicNumberTable([18]), cutoff=CUTOFF)
    batch = mace_geometric.Batch.from_data_list([graph]).to(device)
    batch_dict = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
                  for k, v in batch.to_dict().items()}

    def step():
        inputs = dict(batch_dict)
        inputs["positions"] = batch_dict["positions"].clone()
        out = model(inputs, training=False, compute_force=True, compute_stress=False)
        _sync(device)
        return out["forces"]

    return step, f"ScaleShiftMACE, {n_params} parameters"


# --------------------------------------------------------------------------- against xTB
#: GFN2-xTB aspirin, relaxed (Å): the start structure of the refbench aspirin data set.
ASPIRIN = """C 1.27803105 0.07514260 0.12993419
C 0.46856540 1.20675762 0.27653389
C -0.90135351 1.11598235 0.07533751
C -1.47213114 -0.09537627 -0.26927947
C -0.68141091 -1.22652762 -0.39718611
C 0.68250208 -1.14082265 -0.19731493
H -1.50283226 2.00379023 0.19320331
H -2.53804587 -0.15688626 -0.42894438
H -1.12917358 -2.17420700 -0.65402482
H 1.30845313 -2.01284646 -0.30286242
C 2.75084203 0.16830446 0.27703699
O 3.40944922 1.16063007 0.08389213
O 3.30597329 -0.99886373 0.61899431
H 4.26459367 -0.89017911 0.72002104
O 0.99119849 2.44080950 0.59914995
C 1.78131189 2.56427258 1.69082230
O 1.91858458 1.70123323 2.51183102
C 2.41647850 3.92089336 1.71699800
H 3.32056261 3.86155195 1.11257649
H 1.75323872 4.66047140 1.27884479
H 2.68418430 4.18683329 2.73459993"""

#: One GFN2-xTB call (tblite, 1 thread) on the 192-atom water box of :func:`water_box`, measured once;
#: ``--quick`` uses it instead of a minute-long live call.
XTB_WATER192_CACHED = {"seconds": 29.07, "date": "2026-12-01",
                       "note": "thread CPU time of one call, OMP_NUM_THREADS=1, 2-core machine at load ~10"}


def aspirin():
    from ase import Atoms

    rows = [line.split() for line in ASPIRIN.splitlines()]
    return Atoms([r[0] for r in rows], positions=[[float(x) for x in r[1:]] for r in rows])


def water_box(n_molecules: int, seed: int = 0, density_g_cm3: float = 1.0):
    """``n_molecules`` rigid waters (0.9572 Å, 104.52°) at random orientations on random sites of a cubic
    grid, in a periodic cubic box at ``density_g_cm3`` (ase Atoms)."""
    from ase import Atoms

    rng = np.random.default_rng(seed)
    length = (n_molecules * 18.015 / 6.02214076e23 / density_g_cm3) ** (1 / 3) * 1e8  # Å
    k = int(np.ceil(n_molecules ** (1 / 3) - 1e-9))
    grid = np.array([(a, b, c) for a in range(k) for b in range(k) for c in range(k)], float)
    sites = (grid[np.sort(rng.choice(len(grid), n_molecules, replace=False))] + 0.5) * length / k
    angle = np.radians(104.52)
    molecule = np.array([[0, 0, 0], [0.9572, 0, 0], [0.9572 * np.cos(angle), 0.9572 * np.sin(angle), 0]])
    positions = []
    for site in sites:
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        positions.extend(site + (molecule - molecule.mean(0)) @ rotation.T)
    return Atoms("OH2" * n_molecules, positions=positions, cell=[length] * 3, pbc=True)


def egnn_call(atoms, hidden: int, layers: int, species):
    """One provider call (64 or 32 features) on positions moved by 0.005 Å rms before each call."""
    torch.manual_seed(0)
    model = EGNNEnergyModel(species, CUTOFF, hidden=hidden, layers=layers, n_radial=N_RADIAL,
                            avg_num_neighbors=AVG_NEIGHBORS, dtype=DTYPE)
    provider = EGNNForceProvider(model)
    rng = np.random.default_rng(1)
    positions, cell, pbc = atoms.positions.copy(), atoms.cell.array.copy(), atoms.pbc.copy()

    def step():
        positions[:] += rng.normal(scale=0.005, size=positions.shape)
        return provider.evaluate(atoms.numbers, positions, cell, pbc).forces

    return step


def xtb_call(atoms):
    """One GFN2-xTB energy + forces (tblite) on positions moved by 0.005 Å rms; None when tblite is missing."""
    try:
        from tblite.ase import TBLite
    except ImportError:
        return None
    atoms = atoms.copy()
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    rng = np.random.default_rng(2)

    def step():
        atoms.positions = atoms.positions + rng.normal(scale=0.005, size=atoms.positions.shape)
        return atoms.get_forces()

    return step


def mace_call(atoms, species):
    """MACE of similar size (as :func:`mace_step`) on a molecule, forces by autograd; None without mace-torch."""
    try:
        from mace import data as mace_data
        from mace.modules import interaction_classes
        from mace.modules.models import ScaleShiftMACE
        from mace.tools import torch_geometric as mace_geometric
        from mace.tools.utils import AtomicNumberTable
    except ImportError:
        return None
    from e3nn import o3

    torch.manual_seed(0)
    model = ScaleShiftMACE(
        r_max=CUTOFF, num_bessel=8, num_polynomial_cutoff=5, max_ell=2,
        interaction_cls=interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=interaction_classes["RealAgnosticResidualInteractionBlock"],
        num_interactions=2, num_elements=len(species), hidden_irreps=o3.Irreps("64x0e"),
        MLP_irreps=o3.Irreps("16x0e"), atomic_energies=np.zeros(len(species)), avg_num_neighbors=AVG_NEIGHBORS,
        atomic_numbers=list(species), correlation=3, gate=torch.nn.functional.silu, atomic_inter_scale=1.0,
        atomic_inter_shift=0.0,
    ).to(dtype=torch.float32)
    config = mace_data.config_from_atoms(atoms)
    graph = mace_data.AtomicData.from_config(config, z_table=AtomicNumberTable(list(species)), cutoff=CUTOFF)
    batch = mace_geometric.Batch.from_data_list([graph])
    batch_dict = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
                  for k, v in batch.to_dict().items()}

    def step():
        inputs = dict(batch_dict)
        inputs["positions"] = batch_dict["positions"].clone()
        return model(inputs, training=False, compute_force=True, compute_stress=False)["forces"]

    return step


def reference_rows(quick: bool) -> tuple[dict, list[dict]]:
    """Figures and targets of one call against GFN2-xTB and MACE (1 thread), see the module docstring."""
    saved = torch.get_num_threads()
    threads = pin_threads(1)  # the targets are per thread
    figures = {"threads": threads, "model": f"{HIDDEN} features x {LAYERS} layers, {CUTOFF} A cutoff, float32",
               "seconds_per_call_min": {}, "seconds_per_call_median": {}}
    targets = []
    try:
        from ase.build import molecule

        for name, atoms in (("ethanol-9", molecule("CH3CH2OH")), ("aspirin-21", aspirin())):
            steps = {"egnn": egnn_call(atoms, HIDDEN, LAYERS, [1, 6, 8]),
                     "egnn_32x2": egnn_call(atoms, 32, 2, [1, 6, 8])}
            for label, make in (("xtb", lambda: xtb_call(atoms)), ("mace", lambda: mace_call(atoms, [1, 6, 8]))):
                step = make()
                if step is not None:
                    steps[label] = step
            t = interleaved_times(steps, repeats=10 if quick else 60, warmup=2, clock=time.thread_time)
            figures["seconds_per_call_min"][name] = {k: v[0] for k, v in t.items()}
            figures["seconds_per_call_median"][name] = {k: v[1] for k, v in t.items()}
            best = {k: v[0] for k, v in t.items()}
            print(f"{name}: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in best.items()), flush=True)
            if "xtb" in best:
                targets.append(target(f"one call, {name} molecule, 1 thread: EGNN {HIDDEN}x{LAYERS} time / xTB time",
                                      best["egnn"] / best["xtb"], 1.0, "lower"))
            if "mace" in best:
                targets.append(target(f"one call, {name} molecule, 1 thread: MACE time / EGNN time",
                                      best["mace"] / best["egnn"], 3.0, "higher"))
        for n_mol, goal in ((8, 150.0), (64, 500.0)):
            atoms = water_box(n_mol)
            name = f"water-{len(atoms)}"
            egnn = interleaved_times({"egnn": egnn_call(atoms, HIDDEN, LAYERS, [1, 8])}, repeats=5 if quick else 30,
                                     clock=time.thread_time)
            t_egnn = egnn["egnn"][0]
            if n_mol == 64 and quick and XTB_WATER192_CACHED["seconds"] is not None:
                t_xtb, how = XTB_WATER192_CACHED["seconds"], f"cached ({XTB_WATER192_CACHED['date']})"
            else:
                step = xtb_call(atoms)
                if step is None:
                    continue
                t0 = time.thread_time()
                step()
                t_xtb, how = time.thread_time() - t0, "live, one call (thread CPU time)"
            figures["seconds_per_call_min"][name] = {"egnn": t_egnn, "xtb": t_xtb, "xtb_timing": how}
            print(f"{name}: egnn {t_egnn * 1e3:.2f} ms, xTB {t_xtb:.2f} s ({how})", flush=True)
            targets.append(target(f"one call, {name} (periodic), 1 thread: xTB time / EGNN time",
                                  t_xtb / t_egnn, goal, "higher"))
    finally:
        pin_threads(saved)
    return figures, targets


# --------------------------------------------------------------------------- helpers
def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved_times(steps: dict, repeats: int, warmup: int = 2, clock=time.perf_counter) -> dict:
    """Per-call wall times of each step function, measured round-robin (A, B, C, A, B, C, ...).

    Interleaving exposes every model to the same background load; the minimum over
    repeats is reported as the least-disturbed time (the ratio uses it), the median beside it.
    """
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, fn in steps.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
    return {name: (float(np.min(t)), float(np.median(t))) for name, t in times.items()}


def same_function(naive_fn, ours_fn) -> dict:
    """Energy and force agreement of the naive model and ours on one structure (float32 rounding only)."""
    e_naive, f_naive = naive_fn()
    e_ours, f_ours = ours_fn()
    f_scale = float(f_ours.abs().max())
    return {"energy_eV": float(e_ours), "abs_energy_difference_eV": float((e_naive - e_ours).abs()),
            "max_force_eV_per_A": f_scale,
            "max_force_difference_rel": float((f_naive - f_ours).abs().max()) / max(f_scale, 1e-30)}


def pin_threads(threads: int) -> dict:
    """Pin torch's intra-op threads and Numba's threads (our neighbor list) to ``threads``; report both."""
    import numba

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return {"torch": torch.get_num_threads(), "numba": numba.get_num_threads()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 and 2048 atoms only (< 2 min)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    threads = pin_threads(args.threads)
    sizes = [256, 2048] if args.quick else [256, 2048, 16384]

    naive, model = build_models(args.device)
    figures = {"device": args.device, "threads": threads, "dtype": "float32 (all models)", "cutoff_A": CUTOFF,
               "layers": LAYERS, "features": HIDDEN, "n_radial": N_RADIAL, "sizes": {},
               "naive": "our function, per-edge concatenation and per-edge W_2 (reference-code style); "
                        "phi_e ends linear, phi_x one layer + tanh, as ours"}
    targets = []
    figures["ours_parameters"] = sum(p.numel() for p in model.parameters())
    figures["naive_parameters"] = sum(p.numel() for p in naive.parameters())
    print(f"{'atoms':>6} {'edges':>9} | {'ours f32':>12} {'model only':>12} {'naive f32':>12} {'MACE f32':>12} | "
          f"{'ours/naive':>10} {'model/naive':>11} {'ours/MACE':>9}")
    for n in sizes:
        system = liquid_argon(n, seed=0)
        pairs = build_pairs(system.positions, system.cell, system.pbc, CUTOFF)
        ours, provider = ours_step(model, system, args.device)
        steps = {"ours": ours, "ours_model": ours_model_step(model, system, pairs, args.device),
                 "naive": naive_step(naive, system, pairs, args.device)}
        check = same_function(steps["naive"], steps["ours_model"])
        mace, mace_note = mace_step(system, args.device)
        if mace is not None:
            steps["mace"] = mace
        figures["mace"] = mace_note
        t = interleaved_times(steps, repeats=7 if n <= 2048 else 3)
        best = {name: v[0] for name, v in t.items()}
        row = {
            "edges": int(len(pairs.i)),
            "naive_vs_ours": check,
            "ours_atom_steps_per_s": n / best["ours"],
            "naive_atom_steps_per_s": n / best["naive"],
            "ours_over_naive": best["naive"] / best["ours"],
            # Model only on both sides (same prebuilt pairs): the like-for-like ratio.
            "ours_model_atom_steps_per_s": n / best["ours_model"],
            "ours_model_over_naive": best["naive"] / best["ours_model"],
            "median_seconds": {name: v[1] for name, v in t.items()},
            "min_seconds": best,
            "ours_neighbor_list_builds": provider.neighbor_list.n_builds,
        }
        if "mace" in best:
            row.update(mace_atom_steps_per_s=n / best["mace"], ours_over_mace=best["mace"] / best["ours"],
                       ours_model_over_mace=best["mace"] / best["ours_model"])
        figures["sizes"][str(n)] = row
        mace_txt = f"{n / best['mace']:12.0f}" if "mace" in best else f"{'n/a':>12}"
        ratio_txt = f"{best['mace'] / best['ours']:9.2f}" if "mace" in best else f"{'n/a':>9}"
        print(f"{n:6d} {len(pairs.i):9d} | {n / best['ours']:12.0f} {n / best['ours_model']:12.0f} "
              f"{n / best['naive']:12.0f} {mace_txt} | {best['naive'] / best['ours']:10.2f} "
              f"{best['naive'] / best['ours_model']:11.2f} {ratio_txt}   (naive vs ours: max |dF|/max|F| "
              f"{check['max_force_difference_rel']:.1e})", flush=True)

    ref = figures["sizes"]["2048"]
    same = target("naive computes our function: max |F_naive - F_ours| / max |F|, 2048 atoms",
                  ref["naive_vs_ours"]["max_force_difference_rel"], SAME_FUNCTION_TOL, "lower")
    targets.append(same)
    targets.append(target("ours / naive EGNN (same function, float32), model only both (same run), 2048 atoms",
                          ref["ours_model_over_naive"], 5.0, "higher", requires=[same]))
    targets.append(target("ours incl. neighbor list / naive model only (same run), 2048 atoms",
                          ref["ours_over_naive"], 5.0, "higher", requires=[same]))
    if "ours_over_mace" in ref:
        targets.append(target("ours / MACE (same run), 2048 atoms", ref["ours_over_mace"], 1.0, "higher"))
    figures["against_reference"], reference_targets = reference_rows(args.quick)
    targets.extend(reference_targets)
    write_result("egnn_speed", figures, targets)


if __name__ == "__main__":
    main()
