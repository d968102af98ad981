"""Training of the many-body operator (:func:`train_manybody`) with the shared Trainer."""

from __future__ import annotations

import pathlib

import numpy as np
import torch

from surrogate.model_file import save_model_file
from surrogate.training.trainer import BEST_NAME, Trainer, TrainConfig, unwrap_model
from systems.errors import InputError

from .data import _as_runs, _augmented_runs, _collate, _WindowSamples, trajectory_forces
from .model import ARCHITECTURE_VERSION, MODEL_KIND, ManyBodyOperator

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


def manybody_header(model: ManyBodyOperator, masses, system_info: dict | None = None,
                    training: dict | None = None) -> dict:
    """The JSON header of a many-body model file: architecture, stride (ASE time), the trained masses
    (amu, distinct values), the system description and the training settings."""
    return {"kind": MODEL_KIND, "architecture_version": ARCHITECTURE_VERSION, "architecture": model.architecture(),
            "stride": float(model.stride), "masses": sorted(set(float(m) for m in masses)),
            "system": system_info or {}, "units": {"length": "Angstrom", "time": "ASE time unit"},
            "training": training or {}}


def train_manybody(positions, velocities, masses, cell, pbc, out_dir, *, stride: float, cutoff: float,
                   window: int = 5, hidden: int = 32, layers: int = 2, max_epochs: int = 50, batch_size: int = 2,
                   lr: float = 1e-3, seed: int = 0, device: str = "cpu", val_fraction: float = 0.2,
                   system_info: dict | None = None, progress: bool = True, resume: bool = False,
                   force_input: bool = False, forces=None, force_provider=None, numbers=None,
                   input_noise: float = 0.0, lr_patience: int = 5, early_stopping_patience: int = 15,
                   augment_copies: int = 0, position_noise: float = 0.0, velocity_noise: float = 0.0,
                   reference_map=None, time_budget_s: float | None = None) -> pathlib.Path:
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
    ``time_budget_s``: wall-clock cap of the training loop (seconds; None: none).
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
    header = manybody_header(model, masses, system_info,
                             {"trajectories": len(xs), "train_samples": len(train), "val_samples": len(val),
                              "input_noise": float(input_noise), "augment_copies": int(augment_copies),
                              "position_noise_A": float(position_noise), "velocity_noise": float(velocity_noise)})
    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, seed=seed, device=device,
                         out_dir=str(out_dir), progress=progress, lr_patience=lr_patience,
                         early_stopping_patience=early_stopping_patience, time_budget_s=time_budget_s)
    trainer = Trainer(model, _make_loss(input_noise), train, val, config, collate_fn=_collate,
                      save_fn=lambda m, path: save_model_file(path, m.state_dict(), header))
    try:
        trainer.fit(resume=resume)
    finally:
        trainer.close()
    return pathlib.Path(out_dir) / BEST_NAME
