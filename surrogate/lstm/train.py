"""Train an LSTM operator on Verlet trajectories; save and load its model file; refuse mismatches.

>>> data = generate_lj_data(16, n_trajectories=200)
>>> path = train_lstm(data, "runs/lj16", stride_steps=1000, max_epochs=200)
>>> model, header = load_lstm(path)

Loss: mean squared error of the min-max normalised increment s(t+Δ_R) − s(t)
(dimensionless), as the paper's MSE on normalised targets. The training loop
(Adam, plateau schedule, early stopping, CSV metrics, resume, torchrun) is the
shared :class:`surrogate.training.trainer.Trainer`. Training and validation
windows come from disjoint trajectories (80/20 by default, as in the paper).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import torch

from surrogate.dtypes import resolve_dtype
from surrogate.model_file import HeaderCheck, data_hash, load_model_file, save_model_file
from surrogate.training.trainer import BEST_NAME, Trainer, TrainConfig, unwrap_model
from systems.errors import InputError

from .data import OperatorData, condition_values, default_conditions, load_operator_data, make_windows
from .model import LSTMOperator

MODEL_KIND = "lstm"
#: Version of the LSTMOperator layout in model files; other versions are refused.
ARCHITECTURE_VERSION = 1

class ModelMismatchError(InputError):
    """A model is asked to run on a system, potential or stride it was not trained for."""


# ------------------------------------------------------------------- training
def make_loss_fn(input_noise: float = 0.0):
    """``loss_fn(model, (windows, targets)) -> (loss, metrics)`` for the shared Trainer.

    input_noise : in training, Gaussian noise of this fraction of each state
        component's increment range is added to the input windows while the
        targets stay exact, so the network learns to pull a slightly wrong
        window back towards the true trajectory (noise injection, as in learned
        simulators; it makes long rollouts more stable).
    """

    def loss_fn(model, batch):
        windows, targets = batch[0], batch[1]
        conditions = batch[2] if len(batch) > 2 else None  # [B, C] for a conditioned model
        inner = unwrap_model(model)
        if input_noise > 0 and inner.training:
            scale = input_noise * (inner.increment_hi - inner.increment_lo)  # [D]
            windows = windows + scale * torch.randn_like(windows)
        predicted = model(windows, conditions)  # forward through the (DDP) wrapper: [B, D]
        y_pred = inner.normalise_increment(predicted - windows[:, -1])
        y_true = inner.normalise_increment(targets - windows[:, -1])
        loss = torch.mean((y_pred - y_true) ** 2)
        n_pos = inner.n_particles * inner.dim
        with torch.no_grad():
            err = predicted - targets
            metrics = {"rmse_position": float(torch.sqrt(torch.mean(err[:, :n_pos] ** 2))),
                       "rmse_velocity": float(torch.sqrt(torch.mean(err[:, n_pos:] ** 2)))}
        return loss, metrics

    return loss_fn


def model_header(model: LSTMOperator, data: OperatorData, stride_steps: int, training_hash: str | None) -> dict:
    """The JSON header of an LSTM model file: architecture, Δ, Δ_R, masses, system, normalisation."""
    return {
        "kind": MODEL_KIND,
        "architecture_version": ARCHITECTURE_VERSION,
        "architecture": model.architecture(),
        "dtype": str(model.feature_lo.dtype).replace("torch.", ""),
        "timestep": data.timestep,
        "stride_steps": int(stride_steps),
        "stride": data.timestep * int(stride_steps),
        "system": data.system,
        "masses": data.masses[0].tolist() if data.system.get("kind") != "oscillator_1d" else None,
        "normalisation": {"feature_lo": model.feature_lo.tolist(), "feature_hi": model.feature_hi.tolist(),
                          "increment_lo": model.increment_lo.tolist(), "increment_hi": model.increment_hi.tolist(),
                          "condition_lo": model.condition_lo.tolist(), "condition_hi": model.condition_hi.tolist()},
        "conditions": list(model.conditions),
        "training_data_hash": training_hash,
        "units": {"length": "Angstrom", "velocity": "Angstrom per ASE time unit", "time": "ASE time unit"},
        "output": "increment s(t+stride) - s(t), min-max normalised",
    }


def save_lstm(model: LSTMOperator, path, header: dict) -> pathlib.Path:
    """Write the model file (atomic, weights only)."""
    return save_model_file(path, model.state_dict(), header)


def train_lstm(data, out_dir, *, stride_steps: int, window: int = 5, hidden=(32, 32), dense: int = 96,
               max_epochs: int = 200, batch_size: int = 256, lr: float = 5e-4, dropout: float = 0.15, seed: int = 0,
               device: str = "cpu", dtype: str = "float32", resume: bool = False, val_fraction: float = 0.2,
               max_windows: int | None = None, lr_factor: float = 0.5, lr_patience: int = 10,
               early_stopping_patience: int = 30, min_lr: float = 1e-6, grad_clip: float = 10.0,
               input_noise: float = 0.0, progress: bool = True, conditions="auto",
               schedule: str = "plateau", arch: str = "lstm", heads: int = 2, layers: int = 2,
               time_budget_s: float | None = None) -> pathlib.Path:
    """Train an :class:`LSTMOperator` for stride Δ_R = ``stride_steps``·Δ; return the best model file.

    data : :class:`~surrogate.lstm.data.OperatorData` or the path of its .npz.
    out_dir : receives ``best.pt`` (model file), ``metrics.csv`` and ``checkpoint.pt``.
    window, hidden, dense, dropout : architecture (paper: 5, (32, 32), 96, 0.15).
    max_epochs, batch_size, lr (paper: 256, 5e-4), schedule ("plateau" or "cosine"), lr_factor, lr_patience,
    min_lr, early_stopping_patience, grad_clip, seed, device, resume : the shared training loop.
    val_fraction : share of trajectories held out for validation.
    max_windows : cap on training windows (seeded subset), None for all.
    input_noise : noise injection on the input windows (see :func:`make_loss_fn`).
    conditions : "auto" (the parameters that vary between the data's trajectories,
        :func:`~surrogate.lstm.data.default_conditions`: mass and k for 1D
        oscillators, none for the LJ cube), a sequence of names, or () for the
        paper's state-only model. See :class:`~surrogate.lstm.model.LSTMOperator`.
    arch, heads, layers : "lstm" (paper) or "attention" (causal transformer over the window, d_model = hidden[-1]).
    time_budget_s : wall-clock cap of the training loop in seconds (None: no cap; see TrainConfig).
    """
    if isinstance(data, (str, os.PathLike)):
        data = load_operator_data(data)
    if not isinstance(data, OperatorData):
        raise InputError(f"train_lstm: `data` must be OperatorData or an .npz path, got {type(data).__name__}")
    if not 0 < val_fraction < 1:
        raise InputError(f"train_lstm: `val_fraction` must be in (0, 1), got {val_fraction!r}")
    torch_dtype = resolve_dtype(dtype)
    rng = np.random.default_rng(seed)
    order = rng.permutation(data.n_trajectories)
    n_val = max(1, int(round(val_fraction * data.n_trajectories)))
    if n_val >= data.n_trajectories:
        raise InputError(f"train_lstm: {data.n_trajectories} trajectories are too few to hold out {val_fraction:.0%}")
    val_traj, train_traj = np.sort(order[:n_val]), np.sort(order[n_val:])
    names = default_conditions(data) if isinstance(conditions, str) and conditions == "auto" else \
        tuple(conditions or ())
    per_traj = condition_values(data, names)  # [n_traj, C]
    x_train, y_train, t_train = make_windows(data, stride_steps, window, max_windows, seed, train_traj, True)
    val_cap = None if max_windows is None else max(1, int(max_windows * val_fraction / (1 - val_fraction)))
    x_val, y_val, t_val = make_windows(data, stride_steps, window, val_cap, seed + 1, val_traj, True)

    torch.manual_seed(seed)
    box = data.system.get("box") if data.system.get("kind") == "lj_periodic" else None
    model = LSTMOperator(data.n_particles, data.dim, window, hidden, dense, dropout, box, torch_dtype, names, arch,
                         heads, layers)
    as_t = lambda a: torch.as_tensor(a, dtype=torch_dtype)  # noqa: E731
    c_train, c_val = (as_t(per_traj[t_train]), as_t(per_traj[t_val])) if names else (None, None)
    model.fit_normalisation(as_t(x_train), as_t(y_train), conditions=c_train)
    extra = lambda c: (c,) if c is not None else ()  # noqa: E731
    train_set = torch.utils.data.TensorDataset(as_t(x_train), as_t(y_train), *extra(c_train))
    val_set = torch.utils.data.TensorDataset(as_t(x_val), as_t(y_val), *extra(c_val))
    training_hash = data_hash(x_train[:, -1], y_train)

    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, schedule=schedule, lr_factor=lr_factor,
                         lr_patience=lr_patience, min_lr=min_lr, early_stopping_patience=early_stopping_patience,
                         grad_clip=grad_clip, seed=seed, device=device, out_dir=str(out_dir), progress=progress,
                         time_budget_s=time_budget_s)
    trainer = Trainer(model, make_loss_fn(input_noise), train_set, val_set, config,
                      collate_fn=torch.utils.data.default_collate,
                      save_fn=lambda m, path: save_lstm(m, path, model_header(m, data, stride_steps, training_hash)))
    try:
        trainer.fit(resume=resume)
    finally:
        trainer.close()
    return pathlib.Path(out_dir) / BEST_NAME


# ------------------------------------------------------------------- loading
def load_lstm(path, device="cpu", dtype=None) -> tuple[LSTMOperator, dict]:
    """``(model in eval mode, header)`` from a model file (weights-only load, content hash checked).

    The header is validated field by field against the weights (:func:`validate_lstm_header`)
    before the module is built; every refusal is a :class:`ModelFileError` naming the file and field.
    """
    header, state = load_model_file(path, expected_kind=MODEL_KIND)
    args, stored = validate_lstm_header(path, header, state)
    torch_dtype = stored if dtype is None else resolve_dtype(dtype)
    model = LSTMOperator(**args, dtype=torch_dtype)
    model.load_state_dict({k: v.to(torch_dtype) for k, v in state.items()})
    return model.to(device).eval(), header


def validate_lstm_header(path, header: dict, state: dict) -> tuple[dict, torch.dtype]:
    """Check an LSTM header field by field against its weights; return (constructor arguments, dtype).

    Types and ranges of the architecture (n_particles, dim, window, hidden, dense, dropout,
    box, conditions), of Δ, Δ_R and the system description that :func:`check_compatible`
    reads; Δ_R = stride_steps·Δ; the system's particle count, box and masses against the
    architecture; then the sizes the header implies against the tensors (particles and dim
    → feature and increment bounds, hidden → LSTM blocks, dense, conditions, box values)
    and all shapes against a module built on the meta device. The window length and the
    stride leave no trace in the weights: the file's content hash covers them.
    """
    check = HeaderCheck(path, header, state)
    check.architecture_version(ARCHITECTURE_VERSION, "LSTM")
    check.get("architecture")
    dim = check.choice("architecture.dim", (1, 2, 3))
    n_particles = check.positive_int("architecture.n_particles")
    hidden = [check.positive_int(f"architecture.hidden.{k}") for k in range(len(check.int_list("architecture.hidden")))]
    box = check.get("architecture.box")
    if box is not None:
        box = check.float_list("architecture.box", dim, positive=True)
    args = {"n_particles": n_particles, "dim": dim, "window": check.positive_int("architecture.window", minimum=2),
            "hidden": tuple(hidden), "dense": check.positive_int("architecture.dense"),
            "dropout": check.fraction("architecture.dropout"), "box": box,
            "conditions": tuple(check.string_list("architecture.conditions", [])),
            "arch": check.choice("architecture.arch", ("lstm", "attention"), "lstm"),
            "heads": check.positive_int("architecture.heads", 2), "layers": check.positive_int("architecture.layers", 2)}
    dtype = check.dtype("dtype", "float32")
    timestep = check.positive_float("timestep", unit="ASE time")
    stride_steps = check.positive_int("stride_steps")
    stride = check.positive_float("stride", unit="ASE time")
    if abs(stride - timestep * stride_steps) > 1e-9 * stride:
        raise check.fail("stride", f"= {stride} conflicts with stride_steps × timestep = {stride_steps} × {timestep}")
    kind = check.choice("system.kind", ("oscillator_1d", "lj_periodic"))
    check.boolean("system.translation_invariant", False)
    if kind == "oscillator_1d":
        check.choice("system.potential", ("harmonic", "double_well", "lj", "rugged"))
        lo, hi = check.float_list("system.mass_range", 2, positive=True)
        if lo > hi:
            raise check.fail("system.mass_range", f"must be [low, high], got {[lo, hi]}")
        ranges = check.get("system.parameter_ranges", [])
        if check.get("system.potential") == "harmonic":
            if not isinstance(ranges, list) or len(ranges) != 1:
                raise check.fail("system.parameter_ranges", f"must hold one [k_low, k_high] range, got {ranges!r}")
            _pair(check, "system.parameter_ranges", ranges[0])
        if n_particles != 1 or dim != 1:
            raise check.fail("architecture.n_particles", f"= {n_particles} (dim {dim}) conflicts with system.kind "
                                                         "'oscillator_1d' (one particle in 1D)")
    else:
        check.equal("system.n_particles", check.positive_int("system.n_particles"), "architecture.n_particles",
                    n_particles)
        check.float_list("system.masses", n_particles, positive=True)
        system_box = check.float_list("system.box", 3, positive=True)
        if box is None or not np.allclose(system_box, box, rtol=1e-6, atol=0):  # the architecture's box is float32
            check.equal("system.box", system_box, "architecture.box", box)
        for key in ("sigma", "epsilon", "cutoff"):
            check.positive_float(f"system.{key}")
    masses = check.get("masses", None)
    if masses is not None:
        check.float_list("masses", n_particles, positive=True)

    n_pos = n_particles * dim
    periodic = box is not None
    check.dim("architecture.n_particles", n_pos, "increment_lo", 0, factor=2)
    check.dim("architecture.box", (3 if periodic else 2) * n_pos, "feature_lo", 0)
    check.dim("architecture.conditions", len(args["conditions"]), "condition_lo", 0)
    check.dim("architecture.dim", dim, "box", 0)
    stored_box = check.tensor("box")
    if periodic and not torch.allclose(stored_box.double(), torch.tensor(box, dtype=torch.float64), rtol=1e-6):
        raise check.fail("architecture.box", f"= {box} conflicts with the weights: their box is {stored_box.tolist()}")
    if not periodic and bool((stored_box != 0).any()):
        raise check.fail("architecture.box", f"= null conflicts with the weights: their box is {stored_box.tolist()}")
    if args["arch"] == "lstm":
        check.count("architecture.hidden", len(hidden), "lstms")
        for k, width in enumerate(hidden):
            check.dim(f"architecture.hidden.{k}", width, f"lstms.{k}.weight_hh_l0", 1)
    check.dim("architecture.dense", args["dense"], "dense.weight", 0)
    context = f"n_particles={n_particles}, dim={dim}, hidden={hidden}, dense={args['dense']}, arch={args['arch']}"
    check.same_shapes(lambda: LSTMOperator(**args, dtype=dtype), context)
    return args, dtype


def _pair(check: HeaderCheck, field: str, value) -> None:
    """Refuse ``field`` unless ``value`` is [low, high] with 0 < low <= high."""
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0 for v in value)
          and value[0] <= value[1])
    if not ok:
        raise check.fail(field, f"must hold [low, high] with 0 < low <= high, got {value!r}")


def check_compatible(header: dict, system, provider=None, *, stride: float | None = None, tol: float = 1e-9) -> None:
    """Refuse (:class:`ModelMismatchError`) a system, provider or stride the model was not trained for.

    system : :class:`~systems.state.System`; provider : its force provider (checked
    when given: type and parameters); stride : the stride (ASE time) a caller asks for.
    """
    desc = header["system"]
    problems = []
    if stride is not None and abs(float(stride) - float(header["stride"])) > 1e-9 * float(header["stride"]):
        problems.append(f"stride {stride} ≠ trained stride {header['stride']} "
                        f"({header['stride_steps']} × Δ = {header['timestep']})")
    if desc["kind"] == "oscillator_1d":
        _check_oscillators(desc, system, provider, problems, tol)
    elif desc["kind"] == "lj_periodic":
        _check_lj(desc, system, provider, problems, tol)
    else:
        problems.append(f"unknown system kind {desc['kind']!r} in the model header")
    if problems:
        raise ModelMismatchError("LSTM model refused for this system: " + "; ".join(problems))


_OSC_CLASSES = {"harmonic": "Harmonic1D", "double_well": "DoubleWell1D", "lj": "LennardJones1D", "rugged": "Rugged1D"}


def _check_oscillators(desc, system, provider, problems, tol):
    if np.any(system.pbc):
        problems.append(f"the model is for open 1D oscillators but the system is periodic (pbc={list(system.pbc)})")
    if np.abs(system.positions[:, 1:]).max(initial=0) > 0 or np.abs(system.velocities[:, 1:]).max(initial=0) > 0:
        problems.append("the model moves particles along x only but the system has y/z positions or velocities")
    lo, hi = desc["mass_range"]
    bad = np.flatnonzero((system.masses < lo * (1 - 1e-6)) | (system.masses > hi * (1 + 1e-6)))
    if len(bad):
        problems.append(f"mass {system.masses[bad[0]]:.6g} amu of particle {bad[0]} is outside the trained range "
                        f"[{lo:.6g}, {hi:.6g}]")
    if provider is not None:
        expected = _OSC_CLASSES[desc["potential"]]
        if type(provider).__name__ != expected:
            problems.append(f"potential {type(provider).__name__} ≠ trained {expected} ({desc['potential']})")
        elif desc["potential"] == "harmonic":
            (klo, khi), = desc["parameter_ranges"]
            k = np.broadcast_to(np.asarray(provider.k, dtype=float), (system.n_atoms,))
            bad = np.flatnonzero((k < klo * (1 - 1e-6)) | (k > khi * (1 + 1e-6)))
            if len(bad):
                problems.append(f"spring constant k = {k[bad[0]]:.6g} eV/Å² of particle {bad[0]} is outside the "
                                f"trained range [{klo:.6g}, {khi:.6g}]")


def _check_lj(desc, system, provider, problems, tol):
    n = desc["n_particles"]
    if system.n_atoms != n:
        problems.append(f"the system has {system.n_atoms} atoms but the model was trained on exactly {n} "
                        "(the flat LSTM state has a fixed size; use the many-body operator for other sizes)")
        return
    masses = np.asarray(desc["masses"])
    if np.abs(system.masses - masses).max() > tol * max(1.0, masses.max()):
        i = int(np.argmax(np.abs(system.masses - masses)))
        problems.append(f"mass of atom {i} is {system.masses[i]:.6g} amu, trained {masses[i]:.6g} amu")
    box = np.diag(desc["box"])
    if not np.all(system.pbc) or np.abs(system.cell - box).max() > tol * max(1.0, float(np.max(box))):
        problems.append(f"box {np.round(system.cell, 6).tolist()} (pbc {list(system.pbc)}) ≠ trained periodic box "
                        f"with edges {desc['box']} Å")
    if provider is not None:
        name = type(provider).__name__
        if name != "LennardJones":
            problems.append(f"potential {name} ≠ trained LennardJones")
        else:
            for key in ("sigma", "epsilon", "cutoff"):
                mine, trained = float(getattr(provider, key)), float(desc[key])
                if abs(mine - trained) > tol * max(1.0, abs(trained)):
                    problems.append(f"LennardJones {key} = {mine:.6g} ≠ trained {trained:.6g}")
