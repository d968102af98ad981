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

With ``force_input`` (a "force-informed" operator) the window's forces enter
too, as u_k = F_k/m · Δ_R / v_s (dimensionless; F_k/m·Δ_R² in units of ℓ): the
LSTM also reads u_k·u_c, u_k·v_c/v_s, |u_k|², u_k·(x_k − x_c)/ℓ; the edges
also carry (u_j − u_i)·r̂_ij and |u_j − u_i|²; and both outputs gain the
equivariant terms ℓ(f₁ u_c + f₂ (u_c − u_{c−1})) and v_s(g₁ u_c + g₂ (u_c − u_{c−1}))
with invariant per-atom coefficients. At Δ_R = 100 fs in liquid argon the
current force explains most of Δv that the velocity does not (linear least
squares: relative residual of Δv 0.94 → 0.48, of Δx 0.35 → 0.12). The price in a
rollout is one force evaluation per stride instead of the stride's Verlet steps.

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
from systems.forces import ForceResult
from systems.neighbor_list import build_pairs
from systems.state import System

from .integrator import OperatorInstabilityError, momentum_rescaling
from .warmup import verlet_warmup

MODEL_KIND = "lstm_manybody"
#: Soft bound on the dimensionless force inputs u = F/m · Δ_R / v_s of a force_input operator.
U_MAX = 5.0
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
            # Soft bound |u| < U_MAX (identity for |u| ≪ U_MAX; liquid argon at 100 fs has rms |u| ≈ 1.3): an
            # overlap in a rollout (forces 100× the liquid's) must not become a 100× displacement.
            u = u / torch.sqrt(1.0 + (u * u).sum(-1, keepdim=True) / U_MAX**2)
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
    """Training samples (x_window, v_window, f_window, masses, edge_index, edge_vec, Δx, Δv) of trajectories.

    ``runs`` : list of (positions [T,n,3], velocities [T,n,3], forces [T,n,3] or None, frame indices t).
    Without forces f_window is an empty [n, W, 0] tensor.
    """

    def __init__(self, runs, masses, cell, pbc, cutoff, window, dtype):
        self.items = []
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
        m = as_t(masses)
        for positions, velocities, forces, indices in runs:
            for t in indices:
                win = slice(t - window + 1, t + 1)
                fw = (as_t(forces[win].transpose(1, 0, 2)) if forces is not None
                      else torch.zeros(positions.shape[1], window, 0, dtype=dtype))
                ei, ev = graph(positions[t], cell, pbc, cutoff, dtype)
                self.items.append((as_t(positions[win].transpose(1, 0, 2)), as_t(velocities[win].transpose(1, 0, 2)),
                                   fw, m, ei, ev, as_t(positions[t + 1] - positions[t]),
                                   as_t(velocities[t + 1] - velocities[t])))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        return self.items[k]


def _collate(items):
    """Disjoint union of the samples' graphs (node offsets added to edge indices)."""
    xs, vs, fs, ms, eis, evs, dxs, dvs = zip(*items)
    offsets = np.cumsum([0] + [x.shape[0] for x in xs[:-1]])
    ei = torch.cat([e + int(o) for e, o in zip(eis, offsets)], dim=1)
    return (torch.cat(xs), torch.cat(vs), torch.cat(fs), torch.cat(ms), ei, torch.cat(evs), torch.cat(dxs),
            torch.cat(dvs))


def _augmented_runs(runs, masses, cell, pbc, numbers, copies, position_noise, velocity_noise, v_scale, provider,
                    reference_map, window, seed):
    """Noisy copies of training windows with EXACT targets, so the operator learns how the true dynamics
    responds to the off-manifold windows its own rollouts produce.

    Every window state gets independent Gaussian noise (positions ``position_noise`` Å, velocities
    ``velocity_noise``·v_s); forces are re-evaluated at the noisy positions with ``provider`` (if the run has
    forces); the target is ``reference_map(x_c', v_c')`` (the reference integrator over one stride from the
    noisy current state) minus that state. Returns runs in the layout of :class:`_WindowSamples`: one
    pseudo-trajectory [W+1, n, 3] per noisy window (frame W holds the target state).
    """
    rng = np.random.default_rng(seed)
    numbers = np.zeros(len(masses), dtype=np.int64) if numbers is None else numbers
    out = []
    for positions, velocities, forces, indices in runs:
        for _ in range(copies):
            for t in indices:
                win = slice(t - window + 1, t + 1)
                x = positions[win] + rng.normal(0.0, position_noise, positions[win].shape)
                v = velocities[win] + rng.normal(0.0, velocity_noise * v_scale, velocities[win].shape)
                x_next, v_next = reference_map(x[-1].copy(), v[-1].copy())
                f = None
                if forces is not None:
                    f = trajectory_forces(np.concatenate([x, x_next[None]]), masses, cell, pbc, provider, numbers)
                out.append((np.concatenate([x, x_next[None]]), np.concatenate([v, v_next[None]]), f,
                            np.array([window - 1])))
    return out


def verlet_stride_map(template: System, provider, timestep: float, steps: int):
    """A ``reference_map`` for :func:`train_manybody`: (x [n,3] Å, v [n,3] Å/time) → the state ``steps``
    velocity-Verlet steps of ``timestep`` (ASE time) later with ``provider``, in the cell of ``template``."""

    def advance(x, v):
        s = template.copy()
        s.positions[:], s.velocities[:] = x, v
        verlet_warmup(s, provider, timestep, steps, 1, lambda *_: None)
        return s.positions.copy(), s.velocities.copy()

    return advance


def _make_loss(input_noise: float):
    """Loss on scaled increments; with ``input_noise`` > 0 (training only) the window velocities get Gaussian
    noise of input_noise·v_s and the Δv target is corrected for the current state's noise, so that the operator
    learns to pull a perturbed state back towards the true next state (as rollout errors will perturb it)."""

    def loss(model, batch):
        xw, vw, fw, m, ei, ev, dx, dv = batch
        inner = unwrap_model(model)
        ell, vs = inner.length_scale, inner.v_scale
        if input_noise > 0 and model.training:
            noise = input_noise * vs * torch.randn_like(vw)
            vw = vw + noise
            dv = dv - noise[:, -1]
        if inner.force_input:
            px, pv = model(xw, vw, ei, ev, fw, m)
        else:
            px, pv = model(xw, vw, ei, ev)
        lx = torch.mean(((px - dx) / ell) ** 2)
        lv = torch.mean(((pv - dv) / vs) ** 2)
        with torch.no_grad():
            metrics = {"rmse_dx": float(torch.sqrt(torch.mean((px - dx) ** 2))),
                       "rmse_dv": float(torch.sqrt(torch.mean((pv - dv) ** 2)))}
        return lx + lv, metrics

    return loss


def _as_runs(name, a, n_atoms=None):
    """[T,n,3], [R,T,n,3] or a list of [T,n,3] → list of float64 arrays [T,n,3]."""
    if a is None:
        return None
    if isinstance(a, (list, tuple)):
        runs = [np.asarray(r, dtype=np.float64) for r in a]
    else:
        arr = np.asarray(a, dtype=np.float64)
        runs = [arr] if arr.ndim == 3 else list(arr) if arr.ndim == 4 else None
        if runs is None:
            raise InputError(f"train_manybody: {name} must be [T, n, 3], [R, T, n, 3] or a list, got {arr.shape}")
    for r in runs:
        if r.ndim != 3 or r.shape[2] != 3 or (n_atoms is not None and r.shape[1] != n_atoms):
            raise InputError(f"train_manybody: {name} trajectory of shape {r.shape}, expected [T, {n_atoms}, 3]")
    return runs


def trajectory_forces(positions, masses, cell, pbc, provider, numbers=None) -> np.ndarray:
    """Forces [T, n, 3] eV/Å of ``provider`` at every frame of positions [T, n, 3] Å."""
    numbers = np.zeros(len(masses), dtype=np.int64) if numbers is None else numbers
    system = System(numbers=numbers, masses=masses, positions=positions[0], cell=cell, pbc=pbc)
    out = np.empty_like(positions)
    for t, x in enumerate(positions):
        system.positions[:] = x
        out[t] = provider.compute(system).forces
    return out


def train_manybody(positions, velocities, masses, cell, pbc, out_dir, *, stride: float, cutoff: float,
                   window: int = 5, hidden: int = 32, layers: int = 2, max_epochs: int = 50, batch_size: int = 2,
                   lr: float = 1e-3, seed: int = 0, device: str = "cpu", val_fraction: float = 0.2,
                   system_info: dict | None = None, progress: bool = True, resume: bool = False,
                   force_input: bool = False, forces=None, force_provider=None, numbers=None,
                   input_noise: float = 0.0, lr_patience: int = 5, early_stopping_patience: int = 15,
                   augment_copies: int = 0, position_noise: float = 0.0, velocity_noise: float = 0.0,
                   reference_map=None) -> pathlib.Path:
    """Train a :class:`ManyBodyOperator` on one or several trajectories sampled every Δ_R.

    positions, velocities : [T, n, 3], [R, T, n, 3] or a list of [T_r, n, 3] (Å unwrapped, Å/time),
    frames spaced ``stride`` (ASE time) apart; masses [n] amu; cell [3,3] Å; pbc; cutoff Å.
    Samples are the frames t with a full window behind and a target ahead. With several
    trajectories the last round(val_fraction·R) (at least one) trajectories validate; with one,
    the last ``val_fraction`` of its frames (a time block) does.
    ``force_input``: the operator also reads the window's forces: ``forces`` (same layout as
    positions, eV/Å) or, if None, ``force_provider.compute`` at every frame (atomic ``numbers``
    [n] for it, default 0). ``input_noise``: see :func:`_make_loss` (relative to v_s).
    ``augment_copies`` > 0 adds that many noisy copies of every training window with exact targets
    from ``reference_map(x [n,3], v [n,3]) -> (x, v)`` one stride later (see :func:`_augmented_runs`;
    with force_input the forces at the noisy positions come from ``force_provider``).
    Returns the best model file.
    """
    xs = _as_runs("positions", positions)
    n = xs[0].shape[1]
    xs = _as_runs("positions", xs, n)
    vs = _as_runs("velocities", velocities, n)
    if len(vs) != len(xs) or any(v.shape != x.shape for v, x in zip(vs, xs)):
        raise InputError("train_manybody: velocities must match positions trajectory by trajectory")
    masses = np.asarray(masses, dtype=np.float64)
    fs = None
    if force_input:
        if forces is not None:
            fs = _as_runs("forces", forces, n)
            if len(fs) != len(xs) or any(f.shape != x.shape for f, x in zip(fs, xs)):
                raise InputError("train_manybody: forces must match positions trajectory by trajectory")
        elif force_provider is not None:
            fs = [trajectory_forces(x, masses, cell, pbc, force_provider, numbers) for x in xs]
        else:
            raise InputError("train_manybody(force_input=True) needs the trajectories' forces or a force provider")
    frames = [np.arange(window - 1, len(x) - 1) for x in xs]
    if sum(len(f) for f in frames) < 4:
        raise InputError(f"train_manybody: {[len(x) for x in xs]} frames are too few for windows of {window}")
    run = lambda r, idx: (xs[r], vs[r], None if fs is None else fs[r], idx)  # noqa: E731
    if len(xs) >= 2:  # whole trajectories validate: no leak of correlated neighbouring frames
        n_val = min(len(xs) - 1, max(1, int(round(val_fraction * len(xs)))))
        train_runs = [run(r, frames[r]) for r in range(len(xs) - n_val)]
        val_runs = [run(r, frames[r]) for r in range(len(xs) - n_val, len(xs))]
    else:
        t_all = frames[0]
        n_val = max(1, int(round(val_fraction * len(t_all))))
        train_runs, val_runs = [run(0, t_all[:-n_val])], [run(0, t_all[-n_val:])]
    torch.manual_seed(seed)
    v_scale = float(np.sqrt(np.mean(np.concatenate([v.ravel() for v in vs]) ** 2)))
    model = ManyBodyOperator(cutoff, stride, v_scale, window, hidden, layers, force_input=force_input)
    if augment_copies > 0:
        if reference_map is None or (force_input and force_provider is None):
            raise InputError("train_manybody: augment_copies needs reference_map (and force_provider with forces)")
        train_runs = train_runs + _augmented_runs(train_runs, masses, cell, pbc, numbers, augment_copies,
                                                  position_noise, velocity_noise, v_scale, force_provider,
                                                  reference_map, window, seed)
    train = _WindowSamples(train_runs, masses, cell, pbc, cutoff, window, torch.float32)
    val = _WindowSamples(val_runs, masses, cell, pbc, cutoff, window, torch.float32)
    header = {"kind": MODEL_KIND, "architecture_version": ARCHITECTURE_VERSION, "architecture": model.architecture(),
              "stride": float(stride), "masses": sorted(set(float(m) for m in masses)),
              "system": system_info or {}, "units": {"length": "Angstrom", "time": "ASE time unit"},
              "training": {"trajectories": len(xs), "train_samples": len(train), "val_samples": len(val),
                           "input_noise": float(input_noise), "augment_copies": int(augment_copies),
                           "position_noise_A": float(position_noise), "velocity_noise": float(velocity_noise)}}
    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                         out_dir=str(out_dir), progress=progress, lr_patience=lr_patience,
                         early_stopping_patience=early_stopping_patience)
    trainer = Trainer(model, _make_loss(input_noise), train, val, config, collate_fn=_collate,
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

    A ``force_input`` model also reads the forces of its window: they are
    recorded at the warm-up's stride states and then evaluated with
    ``warmup_provider`` once after every stride, so such a model costs ONE force
    evaluation per stride (against ``stride_steps`` for Verlet) plus the network.
    That evaluation is reused for the energy correction and exposed as
    ``last_result`` (the driver's reporters then need no second one);
    ``state_dict`` carries the force window, so a resumed run continues bit for bit.
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
        self._xw = self._vw = self._fw = self._p0 = None
        self.n_strides = 0

    @property
    def force_input(self) -> bool:
        return bool(getattr(self.model, "force_input", False))

    def initialize(self, system: System) -> None:
        masses = self.header.get("masses")
        if masses and not np.all(np.isin(np.round(system.masses, 9), np.round(masses, 9))):
            raise InputError(f"{self.name}: the model was trained on masses {masses} amu, the system has "
                             f"{sorted(set(system.masses.tolist()))}")
        w = self.model.window
        xs, vs, fs = [], [], []
        self.last_result = None

        def record(s, result):
            xs.append(s.positions.copy())
            vs.append(s.velocities.copy())
            self.last_result = result  # the warm-up's own evaluation: no extra force call
            if self.force_input:
                fs.append(np.array(result.forces, dtype=np.float64))

        verlet_warmup(system, self.provider, self.verlet_timestep, self.stride_steps, w - 1, record)
        for _ in range(w - 1):  # stride by stride, as the rollout adds it
            system.time += self.timestep
        self._xw, self._vw = np.stack(xs, 1), np.stack(vs, 1)  # [n, W, 3]
        self._fw = np.stack(fs, 1) if self.force_input else None  # [n, W, 3] eV/Å
        self._p0 = system.momenta.sum(0)
        if self.energy_correction:
            self._e0 = self.last_result.energy + system.kinetic_energy()
        else:
            self._e0 = None
        self.n_strides = 0

    def step(self, system: System) -> None:
        if self._xw is None:
            self.initialize(system)
        p = next(self.model.parameters())
        ei, ev = graph(system.positions, system.cell, system.pbc, self.model.cutoff, p.dtype, p.device)
        as_t = lambda a: torch.as_tensor(a, dtype=p.dtype, device=p.device)  # noqa: E731
        with torch.inference_mode():
            if self.force_input:
                dx, dv = self.model(as_t(self._xw), as_t(self._vw), ei, ev, as_t(self._fw), as_t(system.masses))
            else:
                dx, dv = self.model(as_t(self._xw), as_t(self._vw), ei, ev)
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
        # The one force evaluation of this stride (positions are final; the correction only rescales v);
        # without one, None: the driver evaluates what its reporters need (not the warm-up's stale result).
        self.last_result = self.provider.compute(system) if self.force_input or self.energy_correction else None
        if self.energy_correction:
            self._correct_energy(system)
        self._xw = np.concatenate([self._xw[:, 1:], system.positions[:, None]], 1)
        self._vw = np.concatenate([self._vw[:, 1:], system.velocities[:, None]], 1)
        if self.force_input:
            forces = np.asarray(self.last_result.forces, dtype=np.float64)
            self._fw = np.concatenate([self._fw[:, 1:], forces[:, None]], 1)

    def _correct_energy(self, system: System) -> None:
        v_com = self._p0 / system.masses.sum()
        v_int = system.velocities - v_com
        k_int = 0.5 * float(np.sum(system.masses[:, None] * v_int**2))
        delta = self.last_result.energy + system.kinetic_energy() - self._e0
        alpha, _ = momentum_rescaling(
            k_int, delta, context=lambda _: f"in {self.name} after stride {self.n_strides} (E0 = {self._e0:.6g} eV, "
                                            "internal kinetic energy)")
        system.velocities[:] = v_com + alpha[0] * v_int

    def state_dict(self) -> dict[str, Any]:
        state = {"kind": type(self).__name__, "timestep": self.timestep, "x_window": self._xw.copy(),
                 "v_window": self._vw.copy(), "p0": self._p0.copy(), "n_strides": self.n_strides, "e0": self._e0}
        if self.force_input:
            state["f_window"] = self._fw.copy()
            energy = None if self.last_result is None else self.last_result.energy
            state["last_energy"] = None if energy is None else float(energy)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != type(self).__name__:
            raise InputError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        self._xw = np.asarray(state["x_window"], dtype=np.float64)
        self._vw = np.asarray(state["v_window"], dtype=np.float64)
        self._p0 = np.asarray(state["p0"], dtype=np.float64)
        self.n_strides = int(state["n_strides"])
        self._e0 = None if state.get("e0") is None else float(state["e0"])
        if self.force_input:
            if state.get("f_window") is None:
                raise InputError(f"{self.name}: the checkpoint has no force window, but the model reads forces")
            self._fw = np.asarray(state["f_window"], dtype=np.float64)
            energy = state.get("last_energy")
            # The newest forces are those of the current state: the reporters can use them as before.
            self.last_result = None if energy is None else ForceResult(float(energy), self._fw[:, -1].copy())
