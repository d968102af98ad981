"""Train a :class:`~surrogate.lstm.position_operator.PositionOperator`: one-step or unrolled; its model file.

Training sequences are W + K positions spaced Δ_R apart, cut from the Verlet
trajectories of :class:`~surrogate.lstm.data.OperatorData` (trajectories split
80/20 into training and validation). The loss is the mean squared error of the
predicted positions in units of half the increment range (the paper's MSE on
min-max normalised targets):

* K = 1 (``unroll=1``): teacher forcing, each stride from a true window (the paper);
* K > 1: the model is unrolled K strides on its own predictions and every
  stride's error counts, so training sees, and is penalised for, the errors a
  closed-loop rollout feeds back into itself. With ``input_noise`` the first
  window is perturbed by Gaussian noise of that fraction of the increment range
  while the targets stay exact, so the operator learns to steer back to the
  true trajectory.

The loop is the shared :class:`~surrogate.training.trainer.Trainer` (Adam, cosine
or plateau schedule, early stopping, metrics.csv, exact resume).
"""

from __future__ import annotations

import os
import pathlib
import time

import numpy as np
import torch

from surrogate.dtypes import resolve_dtype
from surrogate.model_file import HeaderCheck, data_hash, load_model_file, save_model_file
from surrogate.training.trainer import BEST_NAME, Trainer, TrainConfig, unwrap_model
from systems.errors import InputError

from .data import OperatorData, condition_values, load_operator_data, make_windows
from .position_operator import ARCHS, HEADS, PositionOperator

MODEL_KIND = "lstm-position"
ARCHITECTURE_VERSION = 1


def position_sequences(data: OperatorData, stride_steps: int, length: int, max_sequences=None, seed: int = 0,
                       trajectories=None):
    """(sequences [S, length, P] of positions spaced Δ_R apart (Å), trajectory index [S])."""
    x, y, traj = make_windows(data, stride_steps, length - 1, max_sequences, seed, trajectories, True)
    p = data.n_particles * data.dim
    return np.concatenate([x[..., :p], y[:, None, :p]], axis=1), traj


def make_unrolled_loss(unroll: int, input_noise: float = 0.0):
    """``loss_fn(model, (sequences [B, W+K, P], [conditions [B, C]]))`` for the Trainer (see the module docstring)."""

    def loss_fn(model, batch):
        seq = batch[0]
        cond = batch[1] if len(batch) > 1 else None
        inner = unwrap_model(model)
        w = inner.window
        half_span = 0.5 * (inner.increment_hi - inner.increment_lo)  # [P] Å
        window = seq[:, :w]
        if input_noise > 0 and inner.training:
            window = window + input_noise * 2.0 * half_span * torch.randn_like(window)
        loss, first = 0.0, None
        for k in range(unroll):
            nxt = model(window, cond)
            err = (nxt - seq[:, w + k]) / half_span
            loss = loss + torch.mean(err ** 2)
            if first is None:
                first = nxt - seq[:, w]
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
        with torch.no_grad():
            metrics = {"one_step_mae": float(first.abs().mean()), "unrolled_final_mae": float((nxt - seq[:, -1]).abs().mean())}
        return loss / unroll, metrics

    return loss_fn


def position_header(model: PositionOperator, data: OperatorData, stride_steps: int, training_hash, extra=None) -> dict:
    """Model-file header: architecture, Δ, Δ_R, the system it was trained on, normalisation, training recipe."""
    return {"kind": MODEL_KIND, "architecture_version": ARCHITECTURE_VERSION, "architecture": model.architecture(),
            "dtype": str(model.position_lo.dtype).replace("torch.", ""), "timestep": data.timestep,
            "stride_steps": int(stride_steps), "stride": data.timestep * int(stride_steps), "system": data.system,
            "conditions": list(model.conditions), "training_data_hash": training_hash, "training": extra or {},
            "units": {"length": "Angstrom", "time": "ASE time unit"},
            "output": "next positions (Angstrom) from a window of positions"}


def train_position_operator(data, out_dir, *, stride_steps: int, window: int = 5, hidden=(32, 32), dense: int = 0,
                            arch: str = "lstm", head: str = "increment", conditions=(), unroll: int = 1,
                            input_noise: float = 0.0, max_epochs: int = 50, batch_size: int = 256, lr: float = 2e-3,
                            schedule: str = "cosine", min_lr: float = 1e-6, seed: int = 0, device: str = "cpu",
                            dtype: str = "float64", resume: bool = False, val_fraction: float = 0.2,
                            max_sequences: int | None = 50_000, time_budget_s: float | None = None,
                            early_stopping_patience: int = 30, progress: bool = False, init_from=None,
                            heads: int = 2, layers: int = 2) -> pathlib.Path:
    """Train a positions-only operator for Δ_R = ``stride_steps``·Δ; return the best model file (``out_dir/best.pt``).

    data : OperatorData or its .npz path. conditions : names ("mass", "k") or () (the paper). unroll : K strides
    per training sequence (1: teacher forcing). init_from : a model file of the same architecture to start from
    (fine-tuning a one-step model with unrolled training); its normalisation is kept.
    """
    if isinstance(data, (str, os.PathLike)):
        data = load_operator_data(data)
    if not isinstance(data, OperatorData):
        raise InputError(f"train_position_operator: `data` must be OperatorData or an .npz path, got {type(data).__name__}")
    if int(unroll) < 1:
        raise InputError(f"train_position_operator: `unroll` must be ≥ 1 stride, got {unroll!r}")
    torch_dtype = resolve_dtype(dtype)
    order = np.random.default_rng(seed).permutation(data.n_trajectories)
    n_val = max(1, int(round(val_fraction * data.n_trajectories)))
    if n_val >= data.n_trajectories:
        raise InputError(f"train_position_operator: {data.n_trajectories} trajectories are too few to hold out "
                         f"{val_fraction:.0%}")
    val_traj, train_traj = np.sort(order[:n_val]), np.sort(order[n_val:])
    names = tuple(conditions or ())
    per_traj = condition_values(data, names)
    length = window + int(unroll)
    s_train, t_train = position_sequences(data, stride_steps, length, max_sequences, seed, train_traj)
    val_cap = None if max_sequences is None else max(1, int(max_sequences * val_fraction / (1 - val_fraction)))
    s_val, t_val = position_sequences(data, stride_steps, length, val_cap, seed + 1, val_traj)

    torch.manual_seed(seed)
    model = PositionOperator(data.n_particles * data.dim, window, hidden, dense, arch, head, names, 0.0, torch_dtype,
                             heads, layers)
    as_t = lambda a: torch.as_tensor(a, dtype=torch_dtype)  # noqa: E731
    c_train, c_val = (as_t(per_traj[t_train]), as_t(per_traj[t_val])) if names else (None, None)
    if init_from is not None:
        start, _ = load_position_operator(init_from, dtype=dtype)
        if start.architecture() != model.architecture():
            raise InputError(f"train_position_operator: init_from {init_from} has architecture "
                             f"{start.architecture()}, not {model.architecture()}")
        model.load_state_dict(start.state_dict())
    else:
        one = as_t(s_train[:, :window + 1])
        model.fit_normalisation(one[:, :window], one[:, window], c_train)
    extra = lambda c: (c,) if c is not None else ()  # noqa: E731
    train_set = torch.utils.data.TensorDataset(as_t(s_train), *extra(c_train))
    val_set = torch.utils.data.TensorDataset(as_t(s_val), *extra(c_val))
    recipe = {"unroll": int(unroll), "input_noise": float(input_noise), "max_epochs": int(max_epochs),
              "batch_size": int(batch_size), "lr": float(lr), "seed": int(seed),
              "init_from": None if init_from is None else str(init_from)}
    training_hash = data_hash(s_train)
    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, schedule=schedule, min_lr=min_lr,
                         early_stopping_patience=early_stopping_patience, seed=seed, device=device,
                         out_dir=str(out_dir), progress=progress, time_budget_s=time_budget_s)
    trainer = Trainer(model, make_unrolled_loss(int(unroll), input_noise), train_set, val_set, config,
                      collate_fn=torch.utils.data.default_collate,
                      save_fn=lambda m, path: save_model_file(
                          path, m.state_dict(), position_header(m, data, stride_steps, training_hash, recipe)))
    try:
        trainer.fit(resume=resume)
    finally:
        trainer.close()
    return pathlib.Path(out_dir) / BEST_NAME


def load_position_operator(path, device="cpu", dtype=None) -> tuple[PositionOperator, dict]:
    """``(model in eval mode, header)``; the header is checked field by field against the weights."""
    header, state = load_model_file(path, expected_kind=MODEL_KIND)
    check = HeaderCheck(path, header, state)
    check.architecture_version(ARCHITECTURE_VERSION, "positions-only LSTM")
    n_hidden = len(check.int_list("architecture.hidden"))
    args = {"n_positions": check.positive_int("architecture.n_positions"),
            "window": check.positive_int("architecture.window", minimum=2),
            "hidden": tuple(check.positive_int(f"architecture.hidden.{k}") for k in range(n_hidden)),
            "dense": check.positive_int("architecture.dense", minimum=0),
            "arch": check.choice("architecture.arch", ARCHS), "head": check.choice("architecture.head", HEADS),
            "conditions": tuple(check.string_list("architecture.conditions", [])),
            "dropout": check.fraction("architecture.dropout"),
            "heads": check.positive_int("architecture.heads", 2), "layers": check.positive_int("architecture.layers", 2)}
    stored = check.dtype("dtype", "float64")
    stride_steps = check.positive_int("stride_steps")
    timestep = check.positive_float("timestep", unit="ASE time")
    stride = check.positive_float("stride", unit="ASE time")
    if abs(stride - timestep * stride_steps) > 1e-9 * stride:
        raise check.fail("stride", f"= {stride} conflicts with stride_steps × timestep = {stride_steps} × {timestep}")
    check.choice("system.kind", ("oscillator_1d", "lj_periodic"))
    check.dim("architecture.n_positions", args["n_positions"], "position_lo", 0)
    check.dim("architecture.conditions", len(args["conditions"]), "condition_lo", 0)
    check.same_shapes(lambda: PositionOperator(**args, dtype=stored), f"{args}")
    torch_dtype = stored if dtype is None else resolve_dtype(dtype)
    model = PositionOperator(**args, dtype=torch_dtype)
    model.load_state_dict({k: v.to(torch_dtype) for k, v in state.items()})
    return model.to(device).eval(), header


def polish_lbfgs(path, data, out_path, *, steps: int = 200, unroll: int = 1, max_sequences: int = 4000,
                 seed: int = 0, val_fraction: float = 0.2,
                 time_budget_s: float | None = None) -> tuple[pathlib.Path, dict]:
    """Refine a trained model file by full-batch L-BFGS on the same loss (one-step or ``unroll`` strides).

    Adam's stochastic steps stall around a relative error of 1e-3–1e-4; a closed loop of 1000 strides needs
    the stride map's phase to about 1e-5, which a deterministic quasi-Newton method on the whole (small)
    training set reaches for a small model. Trajectories are split as in training (same ``seed``); the
    best weights by validation loss are kept; ``time_budget_s`` stops the polish after the round of 20
    iterations that passes it. Writes ``out_path`` (model file; the header records the
    polish) and returns (path, {"train_loss", "val_loss", "val_loss_before"}).
    """
    if isinstance(data, (str, os.PathLike)):
        data = load_operator_data(data)
    model, header = load_position_operator(path)
    order = np.random.default_rng(seed).permutation(data.n_trajectories)
    n_val = max(1, int(round(val_fraction * data.n_trajectories)))
    val_traj, train_traj = np.sort(order[:n_val]), np.sort(order[n_val:])
    names = model.conditions
    per_traj = condition_values(data, names)
    dtype = model.position_lo.dtype
    length = model.window + int(unroll)
    sets = []
    for trajs, cap, s in ((train_traj, max_sequences, seed), (val_traj, max(1, max_sequences // 4), seed + 1)):
        seq, traj = position_sequences(data, header["stride_steps"], length, cap, s, trajs)
        cond = torch.as_tensor(per_traj[traj], dtype=dtype) if names else None
        sets.append((torch.as_tensor(seq, dtype=dtype),) + ((cond,) if cond is not None else ()))
    loss_fn = make_unrolled_loss(int(unroll))
    model.train()
    torch.manual_seed(seed)

    def val_loss():
        with torch.no_grad():
            return float(loss_fn(model, sets[1])[0])

    best = (val_loss(), {k: v.clone() for k, v in model.state_dict().items()})
    before = best[0]
    # torch's L-BFGS drops every curvature pair with yᵀs ≤ 1e-10, so once the loss is small (≈1e-7) it
    # silently degrades to gradient descent and stalls. The loss is therefore scaled to ≈1 and the
    # optimizer restarted (scale renewed) whenever the scaled loss has fallen by 1e3.
    scale, optimizer, previous, stalled = None, None, float("inf"), 0
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    for _ in range(max(1, steps // 20)):
        if deadline is not None and time.perf_counter() > deadline:
            break
        with torch.no_grad():
            current_train = float(loss_fn(model, sets[0])[0])
        if not np.isfinite(current_train) or current_train <= 0:
            break
        stalled = stalled + 1 if current_train > 0.999 * previous else 0
        if stalled >= 3:  # converged (at float64 round-off, or in a minimum): stop spending time
            break
        previous = current_train
        if scale is None or current_train * scale < 1e-3:
            scale = 1.0 / current_train
            optimizer = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=20, history_size=50,
                                          tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss, _ = loss_fn(model, sets[0])
            loss = loss * scale
            loss.backward()
            return loss

        optimizer.step(closure)
        current = val_loss()
        if np.isfinite(current) and current < best[0]:
            best = (current, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[1])
    model.eval()
    with torch.no_grad():
        train_loss = float(loss_fn(model, sets[0])[0])
    header = dict(header)
    header["training"] = dict(header.get("training", {}), polish={"method": "lbfgs", "steps": int(steps),
                                                                    "unroll": int(unroll), "from": str(path)})
    for key in ("format_version", "package_version", "created"):  # set again by save_model_file
        header.pop(key, None)
    out = save_model_file(out_path, model.state_dict(), header)
    return out, {"train_loss": train_loss, "val_loss": best[0], "val_loss_before": before}
