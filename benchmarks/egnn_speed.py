"""EGNN energy + force throughput on liquid argon, against a naive EGNN and a peer MLIP (MACE).

All three models run in this process, on the same structures, with the same
thread count, and are reported in atom-steps per second (atoms × evaluations / s):

* ``ours``: :class:`surrogate.egnn.provider.EGNNForceProvider` (float32, 4 layers,
  64 features, 5 Å cutoff), neighbor list with a 1 Å skin INCLUDED in the time
  (the positions move by a small random step between calls, as in MD);
* ``ours_model``: the same model on a prebuilt graph of the same pairs the naive
  model gets, model only: the like-for-like comparison with ``naive`` and ``mace``;
* ``naive``: the same architecture written as the reference code does it, float64,
  φ_e a 2-layer MLP on the per-edge concatenation [h_i, h_j, ‖r‖²], φ_x a 2-layer MLP,
  torch_geometric scatter; model only (pairs precomputed, not timed);
* ``mace``: mace-torch ``ScaleShiftMACE`` of comparable size (2 interactions,
  hidden irreps 64x0e, max_ell 2, correlation 3, 5 Å cutoff), float32; model only
  (the graph is built once by MACE's own data pipeline, not timed). Skipped with a
  note when mace-torch is not installed.

Timing: the three models run round-robin on each box (same background load);
the least-disturbed (minimum) time per call over the repeats gives the
figures and ratios, and the medians are stored beside them.

Usage: ``python benchmarks/egnn_speed.py [--quick] [--threads 2] [--device cpu]``
(``--quick``: 256 and 2048 atoms only).
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
from surrogate.egnn.model import EGNNEnergyModel  # noqa: E402
from surrogate.egnn.provider import EGNNForceProvider  # noqa: E402
from systems.catalogue import liquid_argon  # noqa: E402
from systems.neighbor_list import build_pairs  # noqa: E402

CUTOFF = 5.0  # Å
HIDDEN = 64
LAYERS = 4
NAIVE_FLOOR = 3800.0  # atom-steps/s, anchors.md: a naive float64 EGNN on this machine kind


# --------------------------------------------------------------------------- naive EGNN
class NaiveEGNNLayer(nn.Module):
    """The reference code's layer: per-edge MLPs on the concatenation [h_i, h_j, ‖x_i − x_j‖²]."""

    def __init__(self, hidden: int):
        super().__init__()
        act = nn.SiLU
        self.edge_mlp = nn.Sequential(nn.Linear(2 * hidden + 1, hidden), act(), nn.Linear(hidden, hidden), act())
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), act(), nn.Linear(hidden, hidden))
        self.coord_mlp = nn.Sequential(nn.Linear(hidden, hidden), act(), nn.Linear(hidden, 1, bias=False))

    def forward(self, h, x, row, col, offsets):
        """offsets [E, 3] = S·cell, so x_j's image is x_j + offset; returns new (h, x)."""
        diff = x[row] - x[col] - offsets  # x_i − x_j(image)  [E, 3]
        radial = (diff**2).sum(-1, keepdim=True)
        m = self.edge_mlp(torch.cat([h[row], h[col], radial], dim=-1))  # [E, F]
        trans = diff * self.coord_mlp(m)
        x = x + scatter(trans, row, 0, dim_size=x.shape[0], reduce="mean")
        agg = scatter(m, row, 0, dim_size=h.shape[0], reduce="sum")
        return h + self.node_mlp(torch.cat([h, agg], dim=-1)), x


class NaiveEGNN(nn.Module):
    """Embedding, L naive layers, per-atom readout, summed energy."""

    def __init__(self, hidden: int = HIDDEN, layers: int = LAYERS):
        super().__init__()
        self.embedding = nn.Embedding(1, hidden)
        self.layers = nn.ModuleList(NaiveEGNNLayer(hidden) for _ in range(layers))
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def energy(self, species, pos, row, col, offsets):
        h = self.embedding(species)
        for layer in self.layers:
            h, pos = layer(h, pos, row, col, offsets)
        return self.readout(h).sum()


def naive_step(system, pairs, device):
    model = NaiveEGNN().to(device=device, dtype=torch.float64)
    for p in model.parameters():
        p.requires_grad_(False)
    species = torch.zeros(system.n_atoms, dtype=torch.long, device=device)
    row = torch.from_numpy(pairs.i).to(device)
    col = torch.from_numpy(pairs.j).to(device)
    offsets = torch.from_numpy(pairs.shifts.astype(np.float64) @ system.cell).to(device)
    pos0 = torch.from_numpy(system.positions).to(device)

    def step():
        pos = pos0.clone().requires_grad_(True)
        energy = model.energy(species, pos, row, col, offsets)
        forces = -torch.autograd.grad(energy, pos)[0]
        _sync(device)
        return forces

    return step


# --------------------------------------------------------------------------- ours
def ours_step(system, device):
    torch.manual_seed(0)
    model = EGNNEnergyModel([18], CUTOFF, hidden=HIDDEN, layers=LAYERS, avg_num_neighbors=12.0, device=device)
    provider = EGNNForceProvider(model, device=device, skin=1.0)
    rng = np.random.default_rng(0)
    positions = system.positions.copy()

    def step():
        positions[:] += rng.normal(scale=0.005, size=positions.shape)  # an MD-sized move; the skin list is reused
        out = provider.evaluate(system.numbers, positions, system.cell, system.pbc)
        return out.forces

    return step, provider


def ours_model_step(system, pairs, device):
    """Our model on a prebuilt graph (the same pairs the naive model gets): model-only, like the naive and MACE steps."""
    from surrogate.egnn.autograd_forces import energy_forces_stress
    from surrogate.egnn.graph import build_graph, single_batch

    torch.manual_seed(0)
    model = EGNNEnergyModel([18], CUTOFF, hidden=HIDDEN, layers=LAYERS, avg_num_neighbors=12.0, device=device)
    graph = single_batch(build_graph(system.numbers, system.positions, system.cell, system.pbc, CUTOFF,
                                     neighbors=pairs)).to(device)

    def step():
        forces = energy_forces_stress(model, graph).forces
        _sync(device)
        return forces

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


# --------------------------------------------------------------------------- helpers
def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved_times(steps: dict, repeats: int, warmup: int = 2) -> dict:
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
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (float(np.min(t)), float(np.median(t))) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 and 2048 atoms only (< 2 min)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = [256, 2048] if args.quick else [256, 2048, 16384]

    figures = {"device": args.device, "threads": args.threads, "cutoff_A": CUTOFF, "layers": LAYERS,
               "features": HIDDEN, "sizes": {}}
    targets = []
    n_params = sum(p.numel() for p in EGNNEnergyModel([18], CUTOFF, HIDDEN, LAYERS).parameters())
    figures["ours_parameters"] = n_params
    figures["naive_parameters"] = sum(p.numel() for p in NaiveEGNN().parameters())
    print(f"{'atoms':>6} {'edges':>9} | {'ours f32':>12} {'model only':>12} {'naive f64':>12} {'MACE f32':>12} | "
          f"{'ours/naive':>10} {'model/naive':>11} {'ours/MACE':>9}")
    for n in sizes:
        system = liquid_argon(n, seed=0)
        pairs = build_pairs(system.positions, system.cell, system.pbc, CUTOFF)
        ours, provider = ours_step(system, args.device)
        steps = {"ours": ours, "ours_model": ours_model_step(system, pairs, args.device),
                 "naive": naive_step(system, pairs, args.device)}
        mace, mace_note = mace_step(system, args.device)
        if mace is not None:
            steps["mace"] = mace
        figures["mace"] = mace_note
        t = interleaved_times(steps, repeats=7 if n <= 2048 else 3)
        best = {name: v[0] for name, v in t.items()}
        row = {
            "edges": int(len(pairs.i)),
            "ours_atom_steps_per_s": n / best["ours"],
            "naive_float64_atom_steps_per_s": n / best["naive"],
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
              f"{best['naive'] / best['ours_model']:11.2f} {ratio_txt}", flush=True)

    ref = figures["sizes"]["2048"]
    targets.append(target("ours / naive float64 EGNN, model only both (same run), 2048 atoms",
                          ref["ours_model_over_naive"], 5.0, "higher"))
    targets.append(target("ours incl. neighbor list / naive model only (same run), 2048 atoms",
                          ref["ours_over_naive"], 5.0, "higher"))
    targets.append(target("ours atom-steps/s vs anchors' naive floor x5, 2048 atoms", ref["ours_atom_steps_per_s"],
                          5 * NAIVE_FLOOR, "higher"))
    if "ours_over_mace" in ref:
        targets.append(target("ours / MACE (same run), 2048 atoms", ref["ours_over_mace"], 1.0, "higher"))
    write_result("egnn_speed", figures, targets)


if __name__ == "__main__":
    main()
