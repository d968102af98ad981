"""Lean training loop for the N-body EGNN under the paper's protocol, resumable and time-capped.

The reference run (vgsatorras/egnn ``main_nbody.py``): Adam, lr 5e-4, weight decay 1e-12,
batch 100, shuffled every epoch, MSE loss, no LR schedule, up to 10000 epochs, the
validation set evaluated every 5 epochs and the test MSE reported at the best validation
epoch. Here the whole data set stays as tensors and batches are index slices (no
DataLoader, no collation); early stopping on the validation MSE and a wall-clock cap are
added, and the run writes an atomic ``checkpoint.pt`` every ``checkpoint_minutes`` (and
at the end) from which :func:`train_nbody` continues exactly: model, optimizer, the
shuffling generator, the best weights and the history. SIGTERM or Ctrl-C ends the run
after the current epoch, checkpointed, with the best weights loaded (stop reason
"interrupted").
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import contextlib
import pickle
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from surrogate.nbody.data import NBodyDataset
from surrogate.model_file import unsafe_pickle_message
from systems.atomic_file import atomic_write
from systems.errors import InputError

CHECKPOINT_NAME = "checkpoint.pt"

#: Settings that must not change between a checkpoint and its resumption.
RESUME_MUST_MATCH = ("batch_size", "lr", "weight_decay", "eval_every", "seed")


@dataclass
class NBodyTrainConfig:
    """Settings of :func:`train_nbody` (defaults: the paper's protocol).

    Attributes
    ----------
    max_epochs : int
        Epoch limit (paper: 10000).
    batch_size : int
        Trajectories per step (paper: 100).
    lr, weight_decay : float
        Adam settings (paper: 5e-4, 1e-12), constant learning rate.
    eval_every : int
        Validate every this many epochs (reference: 5) and after the last epoch.
    patience : int
        Stop when the validation MSE has not improved for this many epochs.
    max_minutes : float or None
        Wall-clock limit of this call (minutes); the loop stops before an epoch that would overrun it.
    checkpoint_minutes : float
        Write ``checkpoint.pt`` at the first validation after this many minutes since the last one.
    seed : int
        Seed of the shuffling generator.
    """

    max_epochs: int = 10000
    batch_size: int = 100
    lr: float = 5e-4
    weight_decay: float = 1e-12
    eval_every: int = 5
    patience: int = 1000
    max_minutes: float | None = None
    checkpoint_minutes: float = 2.0
    seed: int = 0

    def __post_init__(self):
        for name in ("max_epochs", "batch_size", "eval_every", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"NBodyTrainConfig: `{name}` must be a positive integer, got {value!r}")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise InputError(f"NBodyTrainConfig: `lr` must be > 0 and `weight_decay` >= 0, got {self.lr}, {self.weight_decay}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise InputError(f"NBodyTrainConfig: `max_minutes` must be positive or None, got {self.max_minutes!r}")


def dataset_mse(model: nn.Module, dataset: NBodyDataset, batch_size: int = 500) -> float:
    """Mean squared position error over the whole set (particles × coordinates), float64 sum."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    x, v, q, y = dataset.tensors()
    with torch.no_grad():
        for s in range(0, len(dataset), batch_size):
            sl = slice(s, s + batch_size)
            pred = model(x[sl], v[sl], q[sl])
            total += float(((pred - y[sl]).double() ** 2).sum())
            count += y[sl].numel()
    model.train(was_training)
    return total / count


def _atomic_torch_save(obj, path: pathlib.Path) -> None:
    atomic_write(path, lambda handle: torch.save(obj, handle))


def _make_optimizer(model: nn.Module, config: NBodyTrainConfig) -> torch.optim.Adam:
    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") for p in params)  # one kernel for all tensors: 3× cheaper step on CPU
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)


@contextlib.contextmanager
def _stop_requests():
    """Yield a dict whose "stop" turns True on SIGTERM/SIGINT (main thread only; handlers restored after)."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def request(signum, frame):
        flag["stop"] = True

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def train_nbody(model: nn.Module, train: NBodyDataset, val: NBodyDataset, config: NBodyTrainConfig,
                out_dir, resume: bool = False, log: Callable[[str], None] = print) -> dict:
    """Train ``model`` on ``train`` with MSE loss; keep the weights of the best validation MSE.

    ``out_dir`` receives ``checkpoint.pt``. With ``resume`` and an existing checkpoint the run
    continues from it (its config must agree on :data:`RESUME_MUST_MATCH`). On return the
    model holds the best-validation weights.

    Returns a history dict: ``epochs_run``, ``best_epoch`` (1-based), ``best_val_mse``,
    ``stop_reason`` ("max_epochs", "early_stopping", "max_minutes" or "interrupted"), ``train_s`` (all calls
    together), ``curve`` (rows ``{"epoch", "train_mse", "val_mse", "minutes"}`` at every validation).
    """
    with _stop_requests() as stop:
        return _train(model, train, val, config, out_dir, resume, log, stop)


def _train(model, train, val, config, out_dir, resume, log, stop) -> dict:
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / CHECKPOINT_NAME
    optimizer = _make_optimizer(model, config)
    generator = torch.Generator().manual_seed(config.seed)
    state = {"epoch": 0, "best_val_mse": math.inf, "best_epoch": 0, "best_state": None, "curve": [], "train_s": 0.0}
    if resume and checkpoint_path.is_file():
        state = _load_checkpoint(checkpoint_path, model, optimizer, generator, config)
        log(f"resumed from {checkpoint_path} at epoch {state['epoch']} (best val MSE {state['best_val_mse']:.6f} "
            f"at epoch {state['best_epoch']})")

    x, v, q, y = train.tensors()
    n = len(train)
    start = time.perf_counter()
    previous_s = state["train_s"]
    last_checkpoint = start
    epoch_s = 0.0
    losses = []
    reason = "max_epochs"
    model.train()
    while state["epoch"] < config.max_epochs:
        if stop["stop"]:
            reason = "interrupted"
            break
        if state["epoch"] - state["best_epoch"] >= config.patience and state["best_state"] is not None:
            reason = "early_stopping"
            break
        elapsed = time.perf_counter() - start
        if config.max_minutes is not None and elapsed + 1.5 * epoch_s > 60 * config.max_minutes:
            reason = "max_minutes"
            break
        epoch_start = time.perf_counter()
        perm = torch.randperm(n, generator=generator)
        total = 0.0
        for s in range(0, n, config.batch_size):
            idx = perm[s:s + config.batch_size]
            loss = ((model(x[idx], v[idx], q[idx]) - y[idx]) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        if not math.isfinite(total):
            raise FloatingPointError(f"train_nbody: the training loss became {total} at epoch {state['epoch'] + 1}")
        losses.append(total / n)
        state["epoch"] += 1
        epoch_s = time.perf_counter() - epoch_start
        if state["epoch"] % config.eval_every == 0 or state["epoch"] == config.max_epochs:
            val_mse = dataset_mse(model, val)
            state["train_s"] = previous_s + time.perf_counter() - start
            row = {"epoch": state["epoch"], "train_mse": sum(losses) / len(losses), "val_mse": val_mse,
                   "minutes": state["train_s"] / 60}
            losses = []
            state["curve"].append(row)
            if val_mse < state["best_val_mse"]:
                state.update(best_val_mse=val_mse, best_epoch=state["epoch"],
                             best_state={k: t.detach().clone() for k, t in model.state_dict().items()})
            log(f"epoch {row['epoch']:5d}  train {row['train_mse']:.6f}  val {val_mse:.6f}  "
                f"best {state['best_val_mse']:.6f} @ {state['best_epoch']}  {row['minutes']:.1f} min  "
                f"({epoch_s:.2f} s/epoch)")
            if time.perf_counter() - last_checkpoint > 60 * config.checkpoint_minutes:
                _save_checkpoint(checkpoint_path, model, optimizer, generator, config, state)
                last_checkpoint = time.perf_counter()
    state["train_s"] = previous_s + time.perf_counter() - start
    _save_checkpoint(checkpoint_path, model, optimizer, generator, config, state)
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    log(f"stopped: {reason} after {state['epoch']} epochs, best val MSE {state['best_val_mse']:.6f} "
        f"at epoch {state['best_epoch']}, {state['train_s'] / 60:.1f} min")
    return {"epochs_run": state["epoch"], "best_epoch": state["best_epoch"], "best_val_mse": state["best_val_mse"],
            "stop_reason": reason, "train_s": state["train_s"], "curve": state["curve"]}


def _save_checkpoint(path, model, optimizer, generator, config, state) -> None:
    payload = {"epoch": state["epoch"], "best_val_mse": state["best_val_mse"], "best_epoch": state["best_epoch"],
               "best_state": state["best_state"], "curve": state["curve"], "train_s": state["train_s"],
               "model": {k: t.detach().cpu() for k, t in model.state_dict().items()},
               "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
               "config": dataclasses.asdict(config)}
    _atomic_torch_save(payload, path)


def _load_checkpoint(path, model, optimizer, generator, config) -> dict:
    """Read ``path`` (tensors and plain containers only), check it fits, restore; returns the loop state."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(unsafe_pickle_message(f"checkpoint {path}", exc)) from None
    except Exception as exc:  # a truncated or foreign file
        raise InputError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc})") from None
    fields = ("epoch", "best_val_mse", "best_epoch", "best_state", "curve", "train_s", "model", "optimizer",
              "generator", "config")
    if not isinstance(payload, dict) or any(k not in payload for k in fields):
        raise InputError(f"checkpoint {path}: not an N-body training checkpoint (needs fields {list(fields)})")
    saved = payload["config"]
    for name in RESUME_MUST_MATCH:
        if saved.get(name) != getattr(config, name):
            raise InputError(f"checkpoint {path} was written with {name}={saved.get(name)!r}; resuming with "
                             f"{name}={getattr(config, name)!r} would not continue the same run")
    mine = {k: tuple(t.shape) for k, t in model.state_dict().items()}
    theirs = {k: tuple(t.shape) for k, t in payload["model"].items()}
    if mine != theirs:
        raise InputError(f"checkpoint {path}: field 'model' does not fit the model being trained "
                         f"(differing weights: {sorted(set(mine.items()) ^ set(theirs.items()))[:3]})")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    generator.set_state(payload["generator"])
    return {k: payload[k] for k in ("epoch", "best_val_mse", "best_epoch", "best_state", "curve", "train_s")}
