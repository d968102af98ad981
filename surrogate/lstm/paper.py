"""The "paper" preset: Kadupitiya, Fox and Jadhao's 1D operators and their own (teacher-forced) metric.

From the paper (arXiv 2004.06493) and the authors' public code (``RNN_MD.py``,
``config/*.yaml``): one model per potential and stride; positions only in, the
next position out; LSTM 32/32, float64, window 5; 50–500 Verlet trajectories of
t = 100 at Δ = 0.001 with m ∈ [1, 10] and the ranges of :data:`PAPER_X0` (k ∈ [1, 10]
for the harmonic oscillator); every overlapping window.

**Metric (teacher-forced).** Their figures predict every stride from the true
window of the reference trajectory (``simulate_new``), never from the model's own
output: :func:`teacher_forced_error` is that one-step error |x_R − x_GT| on the
paper's test trajectories (:data:`PAPER_TEST`, run to t = 10⁴). It measures how
well a model maps true windows to the next state, not whether a free-running
(closed-loop) rollout stays on the trajectory; :mod:`.closed_loop` measures that.
"""

from __future__ import annotations

import csv
import pathlib
import tempfile
import time

import numpy as np

from integrators.fused_verlet import params_1d, verlet_1d
from systems.errors import InputError

from .data import PAPER_TIMESTEP, generate_oscillator_data
from .position_operator import PositionOperator, teacher_forced
from .position_train import polish_lbfgs, train_position_operator

#: Δ_R of the paper's 1D models, in Verlet steps of Δ = 0.001.
PAPER_STRIDES = (100, 400, 1000, 4000)
#: The paper's plotted mean teacher-forced position error at each stride (harmonic and double well).
PAPER_ERROR = {100: 0.001, 400: 0.002, 1000: 0.003, 4000: 0.004}
#: Initial-position ranges (Å) of the training trajectories; m ∈ [1, 10] amu for all, k ∈ [1, 10] eV/Å² (harmonic).
PAPER_X0 = {"harmonic": (-10.0, -1.0), "lj": (1.0, 3.0), "double_well": (-3.1, 3.1), "rugged": (-6.1, 6.1)}
#: Test trajectories (mass amu, x0 Å, k eV/Å²), each to t = 10⁴. The issue gives m, k for the harmonic
#: oscillator but no x0; −5 (amplitude 5, the middle of the training range) is our choice.
PAPER_TEST = {"harmonic": (10.0, -5.0, 1.0), "lj": (1.0, 2.0, None), "double_well": (1.0, -2.0, None),
              "rugged": (1.0, -6.0, None)}
PAPER_T_END = 1.0e4
_FUSED = {"harmonic": "harmonic", "double_well": "double_well", "lj": "lennard_jones", "rugged": "rugged"}
#: CLI spellings (``--potential double-well``) → data names.
POTENTIAL_NAMES = {"harmonic": "harmonic", "lj": "lj", "double-well": "double_well", "double_well": "double_well",
                   "rugged": "rugged"}


def paper_potential(name: str) -> str:
    if name not in POTENTIAL_NAMES:
        raise InputError(f"paper preset: unknown potential {name!r}; choose harmonic, lj, double-well or rugged")
    return POTENTIAL_NAMES[name]


def paper_data(potential: str, stride_steps: int, n_trajectories: int = 500, t_max: float = 100.0, seed: int = 0):
    """The paper's training set for one potential: Verlet at Δ = 0.001, states kept every min(Δ_R, 100) steps."""
    potential = paper_potential(potential)
    if stride_steps not in PAPER_STRIDES:
        raise InputError(f"paper preset: --stride must be one of {PAPER_STRIDES} Verlet steps, got {stride_steps}")
    return generate_oscillator_data(potential, n_trajectories, t_max=t_max, timestep=PAPER_TIMESTEP,
                                    save_every=min(stride_steps, 100), mass_range=(1.0, 10.0),
                                    x0_range=PAPER_X0[potential], k_range=(1.0, 10.0), seed=seed)


def paper_model_options(stride_steps: int) -> dict:
    """Keyword arguments of :func:`~surrogate.lstm.position_train.train_position_operator` for the preset."""
    return {"stride_steps": int(stride_steps), "window": 5, "hidden": (32, 32), "dense": 0, "arch": "lstm",
            "head": "increment", "conditions": (), "unroll": 1, "dtype": "float64"}


#: The preset's training recipe (issue #13; what each step buys is in benchmarks/lstm_teacher.py's docstring):
#: Adam at a high rate with a cosine decay over windows cut from the paper's data, then a full-batch L-BFGS
#: polish of the one-step loss. ``max_sequences`` caps the training windows per epoch (a seeded subset);
#: ``adam_share``: Adam's share of a time budget (the polish gets the rest).
PAPER_RECIPE = {"max_epochs": 40, "batch_size": 256, "lr": 1e-2, "min_lr": 1e-5, "schedule": "cosine",
                "max_sequences": 50_000, "polish_steps": 200, "polish_sequences": 4000, "adam_share": 0.8}
#: The attention body's Adam rate (transformers are usually trained at a lower rate; 1e-2 was not tried).
ATTENTION_LR = 3e-3


def paper_training_options(arch: str = "lstm") -> dict:
    """The preset's training recipe (:data:`PAPER_RECIPE`) for ``arch`` ("lstm" or "attention")."""
    recipe = dict(PAPER_RECIPE)
    if arch == "attention":
        recipe["lr"] = ATTENTION_LR
    return recipe


def epochs_for_budget(data, stride_steps: int, model_options: dict, batch_size: int, max_sequences: int,
                      budget_s: float, seed: int = 0, val_fraction: float = 0.2) -> int:
    """Epochs of ``max_sequences`` windows that fit ``budget_s`` seconds on this machine now (≥ 2).

    model_options : :func:`paper_model_options` (with ``stride_steps`` = ``stride_steps``).

    The cosine schedule spans ``max_epochs``; a run cut short by a time budget would stop at a high rate,
    so the benchmark first times one short epoch of the same trainer (data loader, validation and all)
    and sizes the schedule to the budget.
    """
    probe = 8 * batch_size
    with tempfile.TemporaryDirectory() as tmp:  # the second epoch's time: no set-up, no first-call warm-up
        train_position_operator(data, tmp, max_epochs=2, batch_size=batch_size,
                                max_sequences=probe, seed=seed, val_fraction=val_fraction, **model_options)
        with open(pathlib.Path(tmp) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        per_sample = float(rows[-1]["time_s"]) / probe
    n_train = min(max_sequences, _n_windows(data, stride_steps, model_options["window"], 1 - val_fraction))
    # 25 % headroom: the load on a shared machine varies, and the trainer stops before an epoch that won't fit
    return max(2, int(0.75 * budget_s / (per_sample * n_train)))


def _n_windows(data, stride_steps: int, window: int, fraction: float) -> int:
    k = stride_steps // data.save_every
    return int(fraction * data.n_trajectories * max(0, data.n_frames - window * k))


def train_paper_model(data, out_dir, stride_steps: int, *, arch: str = "lstm", time_budget_s: float | None = None,
                      size_to_budget: bool = True, seed: int = 0, device: str = "cpu", progress: bool = False, log=None,
                      **overrides) -> tuple[pathlib.Path, dict]:
    """Train one paper-preset model with :func:`paper_training_options`; return (model file, info).

    ``time_budget_s`` (benchmarks): the recipe's ``adam_share`` of it to Adam, its cosine schedule sized to fit
    (:func:`epochs_for_budget`; not with ``size_to_budget=False``, where the budget only stops the
    schedule early), the rest to the L-BFGS polish. ``overrides``: recipe keys
    (``max_epochs``, ``lr``, ``polish_steps`` (0: none), ...) and
    :func:`~surrogate.lstm.position_train.train_position_operator` keywords.
    Writes ``out_dir/best.pt`` (Adam) and ``out_dir/polished.pt``; info holds the epochs, timings and losses.
    """
    t0 = time.perf_counter()
    recipe = paper_training_options(arch)
    recipe.update({k: overrides.pop(k) for k in list(overrides) if k in recipe})
    options = paper_model_options(stride_steps)
    options.update(arch=arch)
    options.update({k: overrides.pop(k) for k in list(overrides) if k in options})
    val_fraction = overrides.pop("val_fraction", 0.2)
    # the polish's full batch never holds more windows than Adam's cap (--max-windows caps both)
    polish_steps, polish_sequences = recipe.pop("polish_steps"), min(recipe.pop("polish_sequences"),
                                                                      recipe["max_sequences"])
    share = recipe.pop("adam_share")
    if not polish_steps:
        share = 1.0
    adam_budget = polish_budget = None
    if time_budget_s is not None:
        if size_to_budget:
            fit = epochs_for_budget(data, stride_steps, options, recipe["batch_size"], recipe["max_sequences"],
                                    share * time_budget_s - (time.perf_counter() - t0),
                                    seed, val_fraction)
            recipe["max_epochs"] = min(recipe["max_epochs"], fit)
        adam_budget = share * time_budget_s - (time.perf_counter() - t0)
    best = train_position_operator(data, out_dir, seed=seed, device=device, progress=progress,
                                   time_budget_s=adam_budget, early_stopping_patience=recipe["max_epochs"],
                                   val_fraction=val_fraction, **recipe, **options, **overrides)
    with open(pathlib.Path(out_dir) / "metrics.csv") as f:
        run = len(list(csv.DictReader(f)))
    info = {"epochs": recipe["max_epochs"], "epochs_run": run, "adam_s": time.perf_counter() - t0}
    if polish_steps:
        if time_budget_s is not None:
            polish_budget = max(1.0, time_budget_s - (time.perf_counter() - t0))
        best, pol = polish_lbfgs(best, data, pathlib.Path(out_dir) / "polished.pt", steps=polish_steps,
                                 unroll=options["unroll"], max_sequences=polish_sequences, seed=seed,
                                 val_fraction=val_fraction, time_budget_s=polish_budget)
        info.update(polish=pol)
        if log is not None:
            log(f"L-BFGS polish: validation loss {pol['val_loss_before']:.3g} → {pol['val_loss']:.3g}")
    info["train_s"] = time.perf_counter() - t0
    return best, info


def paper_test_trajectory(potential: str, stride_steps: int, t_end: float = PAPER_T_END) -> np.ndarray:
    """Reference positions [T] (Å) of the paper's test particle, every Δ_R from t = 0 to ``t_end`` (fused Verlet)."""
    potential = paper_potential(potential)
    m, x0, k = PAPER_TEST[potential]
    n_steps = int(round(t_end / PAPER_TIMESTEP / stride_steps)) * int(stride_steps)
    params = params_1d("harmonic", 1, k=k) if potential == "harmonic" else params_1d(_FUSED[potential], 1)
    tr = verlet_1d(np.array([x0]), np.zeros(1), np.array([m]), _FUSED[potential], params, PAPER_TIMESTEP, n_steps,
                   int(stride_steps))
    return np.asarray(tr.positions[:, 0], dtype=np.float64)


def teacher_forced_error(model: PositionOperator, positions, t_horizons=(), stride: float | None = None) -> dict:
    """Mean, max and root-mean-square |x_R − x_GT| (Å) of one-step predictions from true windows over the
    whole trajectory.

    positions [T] (Å) spaced Δ_R apart; ``t_horizons`` (with ``stride`` in ASE time) adds the mean up to each t.
    """
    x = np.asarray(positions, dtype=np.float64)
    pred = teacher_forced(model, x).double().cpu().numpy()[:, 0]
    err = np.abs(pred - x[model.window:])
    out = {"mean": float(err.mean()), "max": float(err.max()), "rms": float(np.sqrt(np.mean(err ** 2))),
           "n_predictions": int(len(err))}
    for t in t_horizons:
        n = max(1, int(round(t / stride)) - model.window)
        out[f"mean_t{t:g}"] = float(err[:n].mean())
    return out
