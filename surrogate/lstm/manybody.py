"""Beyond the paper: a permutation-invariant, size-transferable large-stride operator.

The flat LSTM of Kadupitiya et al. reads one vector over a fixed N, so it is
neither permutation-invariant nor usable on another N. Here every atom keeps
its own LSTM state over the window and atoms talk through EGNN message
passing (:class:`surrogate.egnn.layer.EGNNLayer`) on the neighbor graph of the
current positions, so the same weights run on 256 or 2048 atoms:

1. per atom i and window state k (oldest first, current state c = W−1), the
   rotation-invariant scalars |v_k|², v_k·v_c, |x_k − x_c|², (x_k − x_c)·v_c
   (scaled by the data's velocity scale v_s and length scale ℓ = v_s Δ_R)
   go through a per-atom LSTM → h_i;
2. L EGNN layers update h_i with edge attributes [Gaussian radial basis of
   r_ij, (v_j − v_i)·r̂_ij / v_s, |v_j − v_i|² / v_s²] (invariant);
3. equivariant outputs, built only from the atom's own vectors and pair
   vectors with invariant coefficients:
       Δx_i = Δ_R v_i (1 + a_i) + b_i d_i + ℓ · EGNN_x(h)_i
       Δv_i = v_s (c_i v_i/v_s + e_i d_i/ℓ + EGNN_v(h)_i)
   with d_i = x_c − x_{c−1} the last displacement; then the centre-of-mass
   momentum is projected back exactly.

Rotating or translating every input rotates or translates the outputs
(equivariance); permuting atoms permutes them.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any

import numpy as np
import torch
from torch import nn

from surrogate.egnn.layer import EGNNLayer
from surrogate.model_file import load_model_file, save_model_file
from surrogate.training.trainer import BEST_NAME, Trainer, TrainConfig, unwrap_model
from systems.errors import InputError
from systems.neighbor_list import build_pairs
from systems.state import System

from .integrator import EnergyCorrectionError, OperatorInstabilityError
from .warmup import verlet_warmup

MODEL_KIND = "lstm_manybody"
ARCHITECTURE_VERSION = 1


class ManyBodyOperator(nn.Module):
    """Per-atom LSTM over the window + EGNN interactions → equivariant Δx, Δv.

    Parameters
    ----------
    cutoff : float, Å (graph of the current positions)
    stride : float, ASE time (Δ_R)
    velocity_scale : float, Å/ASE time (v_s; e.g. √(k_B T/m))
    window, hidden, layers, n_rbf : architecture
    dtype : torch.dtype
    """

    def __init__(self, cutoff: float, stride: float, velocity_scale: float, window: int = 5, hidden: int = 32,
                 layers: int = 2, n_rbf: int = 12, dtype=torch.float32, force_input: bool = False):
        super().__init__()
        self.cutoff, self.stride, self.window = float(cutoff), float(stride), int(window)
        self.hidden, self.layers, self.n_rbf = int(hidden), int(layers), int(n_rbf)
        self.force_input = bool(force_input)
        self.register_buffer("v_scale", torch.tensor(float(velocity_scale), dtype=dtype))
        self.register_buffer("centers", torch.linspace(0.0, cutoff, n_rbf, dtype=dtype))
        # force_input adds u_k·u_c, u_k·v_c/v_s, |u_k|², u_k·(x_k − x_c)/ℓ per window state
        self.lstm = nn.LSTM(8 if self.force_input else 4, hidden, batch_first=True, dtype=dtype)
        # force_input adds (u_j − u_i)·r̂_ij and |u_j − u_i|² per edge
        edge_dim = n_rbf + (4 if self.force_input else 2)
        self.interactions = nn.ModuleList(
            [EGNNLayer(hidden, edge_dim, update_coords=False, aggr_norm=20.0).to(dtype) for _ in range(layers)])
        self.head_x = EGNNLayer(hidden, edge_dim, update_coords=True, coord_aggr="mean").to(dtype)
        self.head_v = EGNNLayer(hidden, edge_dim, update_coords=True, coord_aggr="mean").to(dtype)
        # force_input adds coefficients of u_c and u_c − u_{c−1} for Δx and for Δv
        n_coef = 8 if self.force_input else 4
        self.scalars = nn.Sequential(nn.Linear(hidden, hidden, dtype=dtype), nn.SiLU(),
                                     nn.Linear(hidden, n_coef, dtype=dtype))
        nn.init.zeros_(self.scalars[-1].weight)
        nn.init.zeros_(self.scalars[-1].bias)

    @property
    def length_scale(self) -> torch.Tensor:
        return self.v_scale * self.stride

    def forward(self, x_window, v_window, edge_index, edge_vec, forces=None, masses=None):
        """Increments (Δx [n,3] Å, Δv [n,3] Å/time) from windows [n, W, 3] and the current graph.

        edge_index : int64 [2, E] (row 0 receiver i, row 1 sender j); edge_vec : [E, 3] r_ij of the current state.
        forces : [n, W, 3] eV/Å at the window states and masses : [n] amu, required with ``force_input``
        (ignored otherwise); they enter as u_k = F_k/m · Δ_R / v_s (= F/m · Δ_R² / ℓ, dimensionless).
        """
        vs, ell = self.v_scale, self.length_scale
        xc, vc = x_window[:, -1], v_window[:, -1]  # [n, 3]
        rel = (x_window - xc[:, None]) / ell  # [n, W, 3]
        vw = v_window / vs
        vcs = (vc / vs)[:, None]  # [n, 1, 3]
        feats = [(vw * vw).sum(-1), (vw * vcs).sum(-1), (rel * rel).sum(-1), (rel * vcs).sum(-1)]
        if self.force_input:
            if forces is None or masses is None:
                raise InputError("ManyBodyOperator(force_input=True) needs the window's forces and the masses")
            u = forces / masses[:, None, None] * (self.stride / vs)  # [n, W, 3]
            uc = u[:, -1]
            feats += [(u * uc[:, None]).sum(-1), (u * vcs).sum(-1), (u * u).sum(-1), (u * rel).sum(-1)]
        seq = torch.stack(feats, dim=-1)  # [n, W, 4 or 8]
        _, (h, _) = self.lstm(seq)
        h = h[-1]  # [n, H]
        i, j = edge_index
        dist = torch.sqrt((edge_vec * edge_vec).sum(-1) + 1e-12)  # [E]
        width = self.cutoff / self.n_rbf
        rbf = torch.exp(-((dist[:, None] - self.centers) / width) ** 2)  # [E, K]
        dv = (vc[j] - vc[i]) / vs
        edge_feats = [rbf, ((dv * edge_vec).sum(-1) / dist)[:, None], (dv * dv).sum(-1, keepdim=True)]
        if self.force_input:
            du = uc[j] - uc[i]
            edge_feats += [((du * edge_vec).sum(-1) / dist)[:, None], (du * du).sum(-1, keepdim=True)]
        edge_attr = torch.cat(edge_feats, -1)
        envelope = 0.5 * (torch.cos(math.pi * dist / self.cutoff) + 1.0) * (dist < self.cutoff)
        for layer in self.interactions:
            h, _ = layer(h, edge_index, edge_vec, edge_attr, envelope)
        _, dx_graph = self.head_x(h, edge_index, edge_vec, edge_attr, envelope)
        _, dv_graph = self.head_v(h, edge_index, edge_vec, edge_attr, envelope)
        coef = self.scalars(h)  # [n, 4 or 8]
        a, b, c, e = coef[:, :4].unbind(-1)  # [n] each
        d = (xc - x_window[:, -2]) / ell  # [n, 3]
        delta_x = self.stride * vc * (1.0 + a[:, None]) + ell * (b[:, None] * d + dx_graph)
        delta_v = vs * (c[:, None] * vc / vs + e[:, None] * d + dv_graph)
        if self.force_input:
            # Invariant coefficients on the atom's own force vectors keep Δx, Δv equivariant.
            fx1, fx2, fv1, fv2 = coef[:, 4:].unbind(-1)
            du_c = uc - u[:, -2]
            delta_x = delta_x + ell * (fx1[:, None] * uc + fx2[:, None] * du_c)
            delta_v = delta_v + vs * (fv1[:, None] * uc + fv2[:, None] * du_c)
        return delta_x, delta_v

    def architecture(self) -> dict:
        return {"cutoff": self.cutoff, "stride": self.stride, "velocity_scale": float(self.v_scale),
                "window": self.window, "hidden": self.hidden, "layers": self.layers, "n_rbf": self.n_rbf,
                "force_input": self.force_input}


# --------------------------------------------------------------------- graphs
def graph(positions: np.ndarray, cell, pbc, cutoff: float, dtype=torch.float32, device="cpu"):
    """(edge_index [2, E], edge_vec [E, 3]) of all pairs within ``cutoff`` (full list, r_ij = x_j − x_i + shift)."""
    nb = build_pairs(positions, cell, pbc, cutoff, full=True)
    edge_index = torch.as_tensor(np.stack([nb.i, nb.j]).astype(np.int64), device=device)
    return edge_index, torch.as_tensor(nb.vectors, dtype=dtype, device=device)


class _WindowSamples(torch.utils.data.Dataset):
    """Training samples of one trajectory: (x_window, v_window, edge_index, edge_vec, Δx, Δv)."""

    def __init__(self, positions, velocities, cell, pbc, cutoff, window, indices, dtype):
        self.items = []
        for t in indices:
            xw = positions[t - window + 1:t + 1]
            vw = velocities[t - window + 1:t + 1]
            ei, ev = graph(positions[t], cell, pbc, cutoff, dtype)
            as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
            self.items.append((as_t(xw.transpose(1, 0, 2)), as_t(vw.transpose(1, 0, 2)), ei, ev,
                               as_t(positions[t + 1] - positions[t]), as_t(velocities[t + 1] - velocities[t])))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.items[k]


def _collate(items):
    """Disjoint union of the samples' graphs (node offsets added to edge indices)."""
    xs, vs, eis, evs, dxs, dvs = zip(*items)
    offsets = np.cumsum([0] + [x.shape[0] for x in xs[:-1]])
    ei = torch.cat([e + int(o) for e, o in zip(eis, offsets)], dim=1)
    return torch.cat(xs), torch.cat(vs), ei, torch.cat(evs), torch.cat(dxs), torch.cat(dvs)


def _loss(model, batch):
    xw, vw, ei, ev, dx, dv = batch
    inner = unwrap_model(model)
    px, pv = model(xw, vw, ei, ev)
    ell, vs = inner.length_scale, inner.v_scale
    lx = torch.mean(((px - dx) / ell) ** 2)
    lv = torch.mean(((pv - dv) / vs) ** 2)
    with torch.no_grad():
        metrics = {"rmse_dx": float(torch.sqrt(torch.mean((px - dx) ** 2))),
                   "rmse_dv": float(torch.sqrt(torch.mean((pv - dv) ** 2)))}
    return lx + lv, metrics


def train_manybody(positions, velocities, masses, cell, pbc, out_dir, *, stride: float, cutoff: float,
                   window: int = 5, hidden: int = 32, layers: int = 2, max_epochs: int = 50, batch_size: int = 2,
                   lr: float = 1e-3, seed: int = 0, device: str = "cpu", val_fraction: float = 0.2,
                   system_info: dict | None = None, progress: bool = True, resume: bool = False) -> pathlib.Path:
    """Train a :class:`ManyBodyOperator` on one long trajectory sampled every Δ_R.

    positions, velocities : [T, n, 3] (Å unwrapped, Å/time) spaced ``stride`` (ASE time) apart;
    masses [n] amu; cell [3,3] Å; pbc; cutoff Å. Samples are the frames t with a full
    window behind and a target ahead; the last ``val_fraction`` of them validate.
    Returns the best model file.
    """
    positions = np.asarray(positions, dtype=np.float64)
    velocities = np.asarray(velocities, dtype=np.float64)
    t_all = np.arange(window - 1, len(positions) - 1)
    if len(t_all) < 4:
        raise InputError(f"train_manybody: {len(positions)} frames are too few for windows of {window}")
    n_val = max(1, int(round(val_fraction * len(t_all))))
    torch.manual_seed(seed)
    v_scale = float(np.sqrt(np.mean(velocities**2)))
    model = ManyBodyOperator(cutoff, stride, v_scale, window, hidden, layers)
    train = _WindowSamples(positions, velocities, cell, pbc, cutoff, window, t_all[:-n_val], torch.float32)
    val = _WindowSamples(positions, velocities, cell, pbc, cutoff, window, t_all[-n_val:], torch.float32)
    header = {"kind": MODEL_KIND, "architecture_version": ARCHITECTURE_VERSION, "architecture": model.architecture(),
              "stride": float(stride), "masses": sorted(set(float(m) for m in masses)),
              "system": system_info or {}, "units": {"length": "Angstrom", "time": "ASE time unit"}}
    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                         out_dir=str(out_dir), progress=progress, lr_patience=5, early_stopping_patience=15)
    trainer = Trainer(model, _loss, train, val, config, collate_fn=_collate,
                      save_fn=lambda m, path: save_model_file(path, m.state_dict(), header))
    try:
        trainer.fit(resume=resume)
    finally:
        trainer.close()
    return pathlib.Path(out_dir) / BEST_NAME


def load_manybody(path, device="cpu") -> tuple[ManyBodyOperator, dict]:
    header, state = load_model_file(path, expected_kind=MODEL_KIND)
    if header.get("architecture_version") != ARCHITECTURE_VERSION:
        raise InputError(f"model file {path}: many-body architecture version {header.get('architecture_version')!r}")
    a = header["architecture"]
    model = ManyBodyOperator(a["cutoff"], a["stride"], a["velocity_scale"], a["window"], a["hidden"], a["layers"],
                             a["n_rbf"], force_input=bool(a.get("force_input", False)))  # older files: False
    model.load_state_dict(state)
    return model.to(device).eval(), header


# ----------------------------------------------------------------- integrator
class ManyBodyOperatorIntegrator:
    """Integrator protocol for :class:`ManyBodyOperator` (any N, same species).

    The first window comes from velocity Verlet with ``warmup_provider`` at
    ``verlet_timestep`` (the system advances W−1 strides); each ``step`` advances
    Δ_R; the centre-of-mass momentum is projected back to its initial value after
    every stride; a stride that moves an atom more than ``max_displacement`` Å
    raises :class:`OperatorInstabilityError`. ``state_dict`` carries the window.
    With ``energy_correction`` the internal momenta are rescaled after every stride
    by α = √(1 − ΔE/K) so that E_pot (from ``warmup_provider``) + E_kin stays at its
    initial value (FlashMD); :class:`EnergyCorrectionError` when no real α exists.
    """

    name = "ManyBodyOperator"

    def __init__(self, model, warmup_provider, *, verlet_timestep: float, header: dict | None = None,
                 max_displacement: float = 2.0, energy_correction: bool = False, device: str = "cpu"):
        if isinstance(model, (str, os.PathLike)):
            model, header = load_manybody(model, device)
        self.model, self.header = model.eval(), header or {}
        self.provider = warmup_provider
        self.timestep = float(model.stride)
        self.verlet_timestep = float(verlet_timestep)
        n_sub = self.timestep / self.verlet_timestep
        if abs(n_sub - round(n_sub)) > 1e-6:
            raise InputError(f"{self.name}: stride {self.timestep} is not a whole number of Verlet steps "
                             f"{self.verlet_timestep}")
        self.stride_steps = int(round(n_sub))
        self.max_displacement = float(max_displacement)
        self.energy_correction = bool(energy_correction)
        self._e0 = None
        self.want_stress = False
        self.last_result = None
        self._xw = self._vw = self._p0 = None
        self.n_strides = 0

    def initialize(self, system: System) -> None:
        masses = self.header.get("masses")
        if masses and not np.all(np.isin(np.round(system.masses, 9), np.round(masses, 9))):
            raise InputError(f"{self.name}: the model was trained on masses {masses} amu, the system has "
                             f"{sorted(set(system.masses.tolist()))}")
        w = self.model.window
        xs, vs = [], []

        def record(s):
            xs.append(s.positions.copy())
            vs.append(s.velocities.copy())

        verlet_warmup(system, self.provider, self.verlet_timestep, self.stride_steps, w - 1, record)
        for _ in range(w - 1):  # stride by stride, as the rollout adds it
            system.time += self.timestep
        self._xw, self._vw = np.stack(xs, 1), np.stack(vs, 1)  # [n, W, 3]
        self._p0 = system.momenta.sum(0)
        self._e0 = self.provider.compute(system).energy + system.kinetic_energy() if self.energy_correction else None
        self.n_strides = 0

    def step(self, system: System) -> None:
        if self._xw is None:
            self.initialize(system)
        p = next(self.model.parameters())
        ei, ev = graph(system.positions, system.cell, system.pbc, self.model.cutoff, p.dtype, p.device)
        with torch.inference_mode():
            dx, dv = self.model(torch.as_tensor(self._xw, dtype=p.dtype, device=p.device),
                                torch.as_tensor(self._vw, dtype=p.dtype, device=p.device), ei, ev)
        dx, dv = dx.double().cpu().numpy(), dv.double().cpu().numpy()
        if not np.isfinite(dx).all() or np.abs(dx).max() > self.max_displacement:
            raise OperatorInstabilityError(f"{self.name}: stride {self.n_strides + 1} moved an atom by "
                                           f"{np.abs(dx).max():.4g} Å (limit {self.max_displacement} Å)")
        m = system.masses[:, None]
        new_v = system.velocities + dv
        new_v -= ((m * new_v).sum(0) - self._p0) / system.masses.sum()
        new_x = system.positions + dx
        drift = (m * dx).sum(0) / system.masses.sum() - self._p0 / system.masses.sum() * self.timestep
        system.positions[:] = new_x - drift
        system.velocities[:] = new_v
        system.time += self.timestep
        self.n_strides += 1
        if self.energy_correction:
            self._correct_energy(system)
        self._xw = np.concatenate([self._xw[:, 1:], system.positions[:, None]], 1)
        self._vw = np.concatenate([self._vw[:, 1:], system.velocities[:, None]], 1)

    def _correct_energy(self, system: System) -> None:
        self.last_result = self.provider.compute(system)
        v_com = self._p0 / system.masses.sum()
        v_int = system.velocities - v_com
        k_int = 0.5 * float(np.sum(system.masses[:, None] * v_int**2))
        delta = self.last_result.energy + system.kinetic_energy() - self._e0
        arg = 1.0 - delta / k_int if k_int > 0 else -math.inf
        if arg < 0:
            raise EnergyCorrectionError(
                f"{self.name}: energy correction impossible after stride {self.n_strides}: the energy is {delta:.6g} eV "
                f"above E0 = {self._e0:.6g} eV but the internal kinetic energy is only {k_int:.6g} eV "
                f"(α² = {arg:.4g} has no real root)")
        system.velocities[:] = v_com + math.sqrt(arg) * v_int

    def state_dict(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "timestep": self.timestep, "x_window": self._xw.copy(),
                "v_window": self._vw.copy(), "p0": self._p0.copy(), "n_strides": self.n_strides, "e0": self._e0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != type(self).__name__:
            raise InputError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        self._xw = np.asarray(state["x_window"], dtype=np.float64)
        self._vw = np.asarray(state["v_window"], dtype=np.float64)
        self._p0 = np.asarray(state["p0"], dtype=np.float64)
        self.n_strides = int(state["n_strides"])
        self._e0 = None if state.get("e0") is None else float(state["e0"])
