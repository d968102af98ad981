"""A model-agnostic training loop: Adam, plateau LR schedule, clipping, early stopping,
CSV metrics, best-model files, exact resume, and data parallelism under ``torchrun``.

The loop knows nothing about the model. It is driven by

* ``loss_fn(model, batch) -> (loss, metrics)``: ``loss`` a scalar tensor, the mean
  over the batch's samples; ``metrics`` a ``dict[str, float]`` of batch means. In
  training ``model`` may be the ``DistributedDataParallel`` wrapper, so ``loss_fn``
  must go through ``model(...)`` (its ``forward``) for gradients to be synchronised;
  use :func:`unwrap_model` to reach attributes. Autograd inside ``loss_fn`` (forces
  as −∂E/∂x) is allowed in both training and validation.
* ``save_fn(model, path)``: writes the best model file (the model's own header);
  called on rank 0 with the unwrapped model each time the validation loss improves.

Files in ``config.out_dir`` (rank 0 only):

* ``metrics.csv``: one row per epoch (epoch, train_loss, val_loss, lr, time_s,
  then ``train_<metric>``, ``val_<metric>``), flushed every epoch;
* ``best.pt``: written by ``save_fn`` (or a plain state-dict model file);
* ``checkpoint.pt``: model, optimizer, scheduler, epoch, best weights, history,
  RNG state and the EMA of the weights (if on), written atomically after every epoch,
  so ``fit(resume=True)`` after an interruption ends bit-identical to an uninterrupted run.

Optional, both off by default: an exponential moving average of the weights
(``ema_decay``; validation, the best model and the final weights are then the
averaged ones, see :mod:`surrogate.training.ema`), and a wall-clock budget
(``time_budget_s``; training stops cleanly before an epoch that would not fit,
or mid-epoch once the budget is spent, validates, keeps the best model and says so).

Data parallelism: under ``torchrun --nproc-per-node K`` each epoch's global
permutation (seeded by ``seed`` + epoch, the same one a single process uses) is
sharded by :class:`~torch.utils.data.DistributedSampler`; rank r takes every K-th
sample, so global batch b is the union of the K ranks' batch b, each of
``batch_size / K`` samples, and DDP's gradient mean equals the single-process
gradient of the global batch. (When the training-set size is not a multiple of K,
DistributedSampler repeats up to K−1 samples per epoch to keep shards equal.)
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import pathlib
import pickle
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from systems.atomic_file import atomic_write
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, Subset, default_collate
from tqdm.auto import tqdm

from surrogate.model_file import save_model_file, unsafe_pickle_message
from surrogate.training.ema import ParameterEMA
from surrogate.training.distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    init_distributed,
)
from systems.errors import InputError

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
METRICS_NAME = "metrics.csv"

# Changing any of these between an interrupted run and its resume would silently
# produce a different run, so resume refuses them.
_RESUME_MUST_MATCH = ("batch_size", "seed", "lr_factor", "grad_clip", "weight_decay", "schedule", "ema_decay")


@dataclass
class TrainConfig:
    """Training-loop settings.

    Attributes
    ----------
    max_epochs : int
        Upper bound on epochs (early stopping may end sooner).
    batch_size : int
        GLOBAL batch size (samples per optimizer step, summed over all ranks).
    lr : float
        Initial Adam learning rate.
    schedule : str
        ``"plateau"`` (default): ReduceLROnPlateau on the validation loss.
        ``"cosine"``: cosine decay from ``lr`` to ``min_lr`` over ``max_epochs``
        (for regression to high precision, where the plateau schedule's noisy
        validation loss keeps the rate too high: the harmonic 1D LSTM operator at
        Δ_R = 100Δ reached 1.8e-6 with it in 40 epochs, 2.4e-6 with the plateau).
    lr_factor, lr_patience, min_lr : float, int, float
        Plateau schedule: multiply the LR by ``lr_factor`` after ``lr_patience``
        epochs without improvement, never below ``min_lr`` (also the cosine floor).
    early_stopping_patience : int
        Stop after this many epochs without a new best validation loss.
    grad_clip : float
        Max global gradient 2-norm; 0 or negative disables clipping.
    weight_decay : float
        Adam L2 weight decay.
    seed : int
        Seeds torch's RNG and the per-epoch shuffle.
    device : str
        ``"cpu"`` or ``"cuda"``; under torchrun with CUDA each rank uses ``cuda:LOCAL_RANK``.
    out_dir : str
        Directory for metrics.csv, best.pt and checkpoint.pt.
    progress : bool
        Show a tqdm progress bar (rank 0 only).
    num_workers : int
        DataLoader worker processes.
    ema_decay : float
        Decay of the exponential moving average of the weights, in [0, 1); 0 (default)
        turns it off. With it on, validation, ``best.pt`` and the weights ``fit`` leaves
        in the model are the averaged ones (MACE uses 0.99).
    time_budget_s : float or None
        Wall-clock budget of one ``fit`` call in seconds (a resumed run gets a fresh one),
        or None for no limit. An epoch that the mean epoch time says would not fit is
        not started; an epoch still running when the budget is spent ends after its
        current batch (a resume then continues with the next epoch).
    """

    max_epochs: int = 100
    batch_size: int = 16
    lr: float = 1e-3
    schedule: str = "plateau"
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-6
    early_stopping_patience: int = 30
    grad_clip: float = 10.0
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "runs/train"
    progress: bool = True
    num_workers: int = 0
    ema_decay: float = 0.0
    time_budget_s: float | None = None

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first bad field."""
        positive_ints = ("max_epochs", "batch_size", "lr_patience", "early_stopping_patience")
        for name in positive_ints:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not self.lr > 0:
            raise InputError(f"TrainConfig.lr must be positive, got {self.lr!r}")
        if self.schedule not in ("plateau", "cosine"):
            raise InputError(f"TrainConfig.schedule must be 'plateau' or 'cosine', got {self.schedule!r}")
        if not 0 < self.lr_factor < 1:
            raise InputError(f"TrainConfig.lr_factor must be in (0, 1), got {self.lr_factor!r}")
        if not 0 <= self.min_lr <= self.lr:
            raise InputError(f"TrainConfig.min_lr must be in [0, lr={self.lr}], got {self.min_lr!r}")
        if self.weight_decay < 0:
            raise InputError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise InputError(f"TrainConfig.num_workers must be a non-negative integer, got {self.num_workers!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"TrainConfig.ema_decay must be in [0, 1) (0 turns the EMA off), got {self.ema_decay!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise InputError(f"TrainConfig.time_budget_s must be positive or None, got {self.time_budget_s!r}")


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The user's module inside a ``DistributedDataParallel`` wrapper (or the module itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors (also inside dicts, lists, tuples, or objects with ``.to``) to ``device``."""
    if isinstance(batch, torch.Tensor) or hasattr(batch, "to") and not isinstance(batch, (dict, list, tuple)):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # NamedTuple
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def _collate_graphs(items):
    from torch_geometric.data import Batch

    return Batch.from_data_list(items)


def _default_collate_for(dataset) -> Callable:
    """torch_geometric ``Batch.from_data_list`` for graph datasets, else torch's default collate."""
    if len(dataset) > 0:
        try:
            from torch_geometric.data.data import BaseData
        except ImportError:  # pragma: no cover - torch_geometric is a dependency
            BaseData = ()
        if BaseData and isinstance(dataset[0], BaseData):
            return _collate_graphs
    return default_collate


def _atomic_torch_save(obj, path: pathlib.Path) -> None:
    atomic_write(path, lambda handle: torch.save(obj, handle))


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class Trainer:
    """Train ``model`` on ``train_set`` with early stopping on ``val_set``.

    Parameters
    ----------
    model : torch.nn.Module
        Moved to ``config.device`` (its dtype is kept).
    loss_fn : callable
        ``loss_fn(model, batch) -> (loss, metrics)``; see the module docstring.
    train_set, val_set : torch.utils.data.Dataset
        Map-style datasets (``len`` and integer indexing).
    config : TrainConfig
    collate_fn : callable, optional
        Turns a list of samples into a batch. Default: torch_geometric's
        ``Batch.from_data_list`` for graph samples, else ``default_collate``.
    save_fn : callable, optional
        ``save_fn(model, path)`` writes the best model file. Default: a plain
        state-dict model file of kind ``"state_dict"``.
    """

    def __init__(self, model: torch.nn.Module, loss_fn, train_set, val_set, config: TrainConfig,
                 collate_fn=None, save_fn=None):
        config.validate()
        if len(train_set) == 0:
            raise InputError("Trainer: train_set is empty")
        if len(val_set) == 0:
            raise InputError("Trainer: val_set is empty")
        self.config = config
        self.loss_fn = loss_fn
        self.train_set = train_set
        self.val_set = val_set
        self.collate_fn = collate_fn or _default_collate_for(train_set)
        self.save_fn = save_fn or self._default_save
        self.context: DistributedContext = init_distributed(config.device)
        if config.batch_size % self.context.world_size:
            raise InputError(
                f"TrainConfig.batch_size={config.batch_size} is the global batch and must be divisible by "
                f"the number of processes ({self.context.world_size})"
            )
        self.local_batch_size = config.batch_size // self.context.world_size
        self.device = self.context.device
        self.model = model.to(self.device)
        if self.context.is_distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=device_ids)
        else:
            self.wrapped = self.model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.ema = ParameterEMA(self.model, config.ema_decay) if config.ema_decay > 0 else None
        self._deadline = math.inf  # perf_counter time at which the budget is spent (set by fit)
        self._bar = None
        if config.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.optimizer, T_max=config.max_epochs, eta_min=config.min_lr)
        else:
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience,
                min_lr=config.min_lr)
        self.out_dir = pathlib.Path(config.out_dir)
        self.checkpoint_path = self.out_dir / CHECKPOINT_NAME
        self.best_path = self.out_dir / BEST_NAME
        self.metrics_path = self.out_dir / METRICS_NAME
        # Validation shard without padding: every sample is counted exactly once.
        rank, world = self.context.rank, self.context.world_size
        self._val_shard = Subset(val_set, list(range(rank, len(val_set), world))) if world > 1 else val_set

    # ------------------------------------------------------------------ public
    def fit(self, resume: bool = False) -> dict:
        """Train until ``max_epochs`` or early stopping; restore the best weights.

        Parameters
        ----------
        resume : bool
            Continue from ``out_dir/checkpoint.pt`` when it exists (else start fresh).

        Returns
        -------
        dict
            ``{"epochs": [row per epoch], "best_val_loss", "best_epoch", "stopped_early",
            "stopped_by_time_budget", "epochs_run", "out_dir"}``; each row holds epoch,
            train_loss, val_loss, lr, time_s and ``train_``/``val_``-prefixed metrics.
        """
        cfg = self.config
        fit_start = time.perf_counter()
        self._deadline = fit_start + cfg.time_budget_s if cfg.time_budget_s is not None else math.inf
        state = {"epoch": -1, "best_val_loss": math.inf, "best_epoch": -1, "bad_epochs": 0, "history": [],
                 "best_state": None}
        if resume and self.checkpoint_path.is_file():
            state = self._load_checkpoint()
        else:
            torch.manual_seed(cfg.seed)
        if self.context.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._rewrite_metrics(state["history"])
        barrier(self.context)

        stopped_early = state["bad_epochs"] >= cfg.early_stopping_patience
        out_of_time = False
        per_epoch = self._batches_per_epoch()
        bar = tqdm(total=cfg.max_epochs * per_epoch, initial=(state["epoch"] + 1) * per_epoch,
                   desc=f"epoch {state['epoch'] + 2}/{cfg.max_epochs}", unit="batch",
                   disable=not (cfg.progress and self.context.is_main), dynamic_ncols=True)
        self._bar = bar
        durations: list[float] = []
        try:
            for epoch in range(state["epoch"] + 1, cfg.max_epochs):
                if stopped_early:
                    break
                start = time.perf_counter()
                if durations and start + sum(durations) / len(durations) > self._deadline:
                    out_of_time = True  # the next epoch would not fit the budget
                    break
                bar.set_description(f"epoch {epoch + 1}/{cfg.max_epochs}")
                lr = self.optimizer.param_groups[0]["lr"]
                train_loss, train_metrics = self._train_epoch(epoch)
                out_of_time = time.perf_counter() >= self._deadline
                with self._averaged():
                    val_loss, val_metrics = self._validate()
                if self.config.schedule == "cosine":
                    self.scheduler.step()
                else:
                    self.scheduler.step(val_loss)
                row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": lr,
                       "time_s": time.perf_counter() - start}
                row.update({f"train_{k}": v for k, v in train_metrics.items()})
                row.update({f"val_{k}": v for k, v in val_metrics.items()})
                state["history"].append(row)
                state["epoch"] = epoch
                if val_loss < state["best_val_loss"]:
                    with self._averaged():
                        state.update(best_val_loss=val_loss, best_epoch=epoch, bad_epochs=0,
                                     best_state=_cpu_state(self.model))
                        if self.context.is_main:
                            self.save_fn(self.model, self.best_path)
                else:
                    state["bad_epochs"] += 1
                stopped_early = state["bad_epochs"] >= cfg.early_stopping_patience
                self._check_ranks_in_sync(epoch)
                if self.context.is_main:
                    self._append_metrics(row, first=len(state["history"]) == 1)
                    self._save_checkpoint(state)
                barrier(self.context)
                durations.append(time.perf_counter() - start)
                bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}", lr=f"{lr:.2g}")
                if out_of_time:
                    break
        finally:
            bar.close()
            self._bar = None

        if out_of_time and self.context.is_main:
            best = (f"the best model (epoch {state['best_epoch']}, validation loss {state['best_val_loss']:.4g}) "
                    f"is in {self.best_path}") if state["best_state"] is not None else "no epoch finished"
            print(f"time budget of {cfg.time_budget_s / 60:.3g} min reached after {len(durations)} epoch(s) in "
                  f"{time.perf_counter() - fit_start:.1f} s: training stopped; {best}", file=sys.stderr)
        if state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        return {
            "epochs": state["history"],
            "best_val_loss": state["best_val_loss"],
            "best_epoch": state["best_epoch"],
            "stopped_early": stopped_early,
            "stopped_by_time_budget": out_of_time,
            "epochs_run": len(state["history"]),
            "out_dir": str(self.out_dir),
        }

    def _averaged(self):
        """Context in which the model holds the EMA weights (a no-op without EMA)."""
        return self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext()

    def _batches_per_epoch(self) -> int:
        shard = math.ceil(len(self.train_set) / self.context.world_size)
        return math.ceil(shard / self.local_batch_size)

    def close(self) -> None:
        """Wait for all ranks to finish this trainer's work.

        The process group itself stays up for later trainers in the same script and is
        destroyed at exit (torch cannot repeat the torchrun rendezvous in one process);
        call :func:`~surrogate.training.distributed.shutdown_distributed` to end it sooner.
        """
        barrier(self.context)

    # ------------------------------------------------------------- epoch loops
    def _train_loader(self, epoch: int):
        world, rank = self.context.world_size, self.context.rank
        sampler = DistributedSampler(self.train_set, num_replicas=world, rank=rank, shuffle=True,
                                     seed=self.config.seed, drop_last=False)
        sampler.set_epoch(epoch)
        batches = list(BatchSampler(sampler, self.local_batch_size, drop_last=False))
        loader = DataLoader(self.train_set, batch_sampler=batches, collate_fn=self.collate_fn,
                            num_workers=self.config.num_workers)
        return batches, loader

    def _train_epoch(self, epoch: int) -> tuple[float, dict[str, float]]:
        self.model.train()
        batches, loader = self._train_loader(epoch)
        params = [p for p in self.model.parameters() if p.requires_grad]
        totals: dict[str, float] = {}
        for indices, batch in zip(batches, loader):
            batch = move_to_device(batch, self.device)
            self.optimizer.zero_grad(set_to_none=True)
            loss, metrics = self.loss_fn(self.wrapped, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} at epoch {epoch} (rank {self.context.rank})")
            loss.backward()
            if self.config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
            _accumulate(totals, float(loss.detach()), metrics, len(indices))
            if self._bar is not None:
                self._bar.update(1)
            if time.perf_counter() >= self._deadline and self.context.world_size == 1:
                break  # budget spent: end the epoch here (under torchrun every rank runs its full shard)
        return self._reduce(totals)

    def _validate(self) -> tuple[float, dict[str, float]]:
        self.model.eval()
        totals: dict[str, float] = {}
        # Batches of the global size on each shard; grad stays enabled because a
        # loss may differentiate the model (forces), but no backward is taken.
        loader = DataLoader(self._val_shard, batch_size=self.config.batch_size, shuffle=False,
                            collate_fn=self.collate_fn, num_workers=self.config.num_workers)
        start = 0
        for batch in loader:
            n = min(self.config.batch_size, len(self._val_shard) - start)
            start += n
            batch = move_to_device(batch, self.device)
            loss, metrics = self.loss_fn(self.model, batch)
            _accumulate(totals, float(loss.detach()), metrics, n)
        return self._reduce(totals)

    def _reduce(self, totals: dict[str, float]) -> tuple[float, dict[str, float]]:
        """Sample-weighted means over all ranks of the accumulated sums."""
        keys = sorted(totals)
        summed = all_reduce_sum(torch.tensor([totals[k] for k in keys], dtype=torch.float64), self.context)
        summed = dict(zip(keys, summed.tolist()))
        count = summed.pop("__count__")
        loss = summed.pop("__loss__") / count
        return loss, {k: v / count for k, v in summed.items()}

    def _check_ranks_in_sync(self, epoch: int) -> None:
        """Catch a loss_fn that bypasses DDP's forward (ranks would drift apart)."""
        if not self.context.is_distributed:
            return
        checksum = sum(float(p.detach().double().abs().sum()) for p in self.model.parameters())
        spread = all_reduce_sum(torch.tensor([checksum, checksum**2], dtype=torch.float64), self.context)
        mean = spread[0] / self.context.world_size
        var = max(float(spread[1] / self.context.world_size - mean**2), 0.0)
        if math.sqrt(var) > 1e-6 * max(abs(float(mean)), 1.0):
            raise RuntimeError(
                f"model weights differ between ranks after epoch {epoch}: loss_fn must call model(...) "
                "(the DistributedDataParallel wrapper's forward) so gradients are averaged"
            )

    # ------------------------------------------------------------------ files
    def _default_save(self, model: torch.nn.Module, path) -> None:
        save_model_file(path, model.state_dict(), {"kind": "state_dict", "model_class": type(model).__name__})

    def _metric_columns(self, row: dict) -> list[str]:
        base = ["epoch", "train_loss", "val_loss", "lr", "time_s"]
        return base + sorted(k for k in row if k not in base)

    def _rewrite_metrics(self, history: list[dict]) -> None:
        """Start metrics.csv afresh from the (checkpointed) history."""
        text = io.StringIO()  # keeps csv's \r\n line ends, as the file written with newline="" had
        if history:
            writer = csv.DictWriter(text, fieldnames=self._metric_columns(history[0]))
            writer.writeheader()
            writer.writerows(history)
        atomic_write(self.metrics_path, lambda handle: handle.write(text.getvalue().encode("utf-8")))

    def _append_metrics(self, row: dict, first: bool) -> None:
        with open(self.metrics_path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self._metric_columns(row), extrasaction="ignore")
            if first:
                writer.writeheader()
            writer.writerow(row)
            handle.flush()

    def _save_checkpoint(self, state: dict) -> None:
        payload = {
            "epoch": state["epoch"],
            "best_val_loss": state["best_val_loss"],
            "best_epoch": state["best_epoch"],
            "bad_epochs": state["bad_epochs"],
            "history": state["history"],
            "best_state": state["best_state"],
            "model": _cpu_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "config": dataclasses.asdict(self.config),
            "architecture": _architecture(self.model),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }
        _atomic_torch_save(payload, self.checkpoint_path)

    def _load_checkpoint(self) -> dict:
        """Read and validate ``checkpoint.pt``, then restore model, optimizer, scheduler and RNG.

        Every field is checked before anything is restored (and a restore that still fails is
        rolled back); a bad file gives an :class:`InputError` naming the file and the field
        (``model``, ``optimizer``, ``torch_rng``...) and what is wrong with it. A pickle holding
        anything but tensors and plain containers is refused without running it.
        """
        path = self.checkpoint_path
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise InputError(unsafe_pickle_message(f"checkpoint {path}", exc)) from None
        except Exception as exc:
            raise InputError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {_first_line(exc)})") from None
        if not isinstance(payload, dict):
            raise InputError(f"checkpoint {path} is not a training checkpoint: it holds a {type(payload).__name__}, "
                             "not a dict with 'model', 'optimizer', 'scheduler' and RNG state")

        def fail(field: str, problem: str) -> InputError:
            return InputError(f"checkpoint {path}: field {field!r} {problem}")

        missing = [k for k in _CHECKPOINT_FIELDS if k not in payload]
        if missing:
            raise fail(missing[0], f"is missing (a checkpoint written by Trainer holds {list(_CHECKPOINT_FIELDS)})")
        saved = payload.get("config", {})
        if not isinstance(saved, dict):
            raise fail("config", f"must be a dict, got {type(saved).__name__}")
        for name in _RESUME_MUST_MATCH:
            if name in saved and saved[name] != getattr(self.config, name):
                raise InputError(
                    f"checkpoint {path} was written with {name}={saved[name]!r}; "
                    f"resuming with {name}={getattr(self.config, name)!r} would not continue the same run"
                )
        if self.config.schedule == "cosine" and saved.get("max_epochs", self.config.max_epochs) != self.config.max_epochs:
            raise InputError(f"checkpoint {path} was written with max_epochs={saved['max_epochs']!r}; "
                             "the cosine schedule spans max_epochs, so resume with the same value")
        mine, theirs = _architecture(self.model), payload.get("architecture")
        if isinstance(mine, dict) and isinstance(theirs, dict) and mine != theirs:
            diff = [k for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
            shown = ", ".join(f"{k}={theirs.get(k)!r} (now {mine.get(k)!r})" for k in diff[:4])
            raise fail("architecture", f"differs from the model being trained: the checkpoint was written with {shown}; "
                                       "resume with the same settings (e.g. --hidden, --layers) or use a new --out")
        for name in ("epoch", "best_epoch", "bad_epochs"):
            value = payload[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise fail(name, f"must be an integer >= -1, got {value!r}")
        if isinstance(payload["best_val_loss"], bool) or not isinstance(payload["best_val_loss"], (int, float)):
            raise fail("best_val_loss", f"must be a number, got {payload['best_val_loss']!r}")
        history = payload["history"]
        if not isinstance(history, list) or not all(isinstance(row, dict) for row in history) \
                or len(history) != payload["epoch"] + 1:
            raise fail("history", f"must be a list of {payload['epoch'] + 1} per-epoch dicts")
        expected = {k: (tuple(v.shape), v.dtype) for k, v in self.model.state_dict().items()}
        self._check_state(fail, "model", payload["model"], expected)
        if payload["best_state"] is not None:
            self._check_state(fail, "best_state", payload["best_state"], expected)
        rng = payload["torch_rng"]
        if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.shape != torch.get_rng_state().shape:
            raise fail("torch_rng", f"must be a uint8 tensor of shape {list(torch.get_rng_state().shape)} "
                                    f"(torch.get_rng_state()), got {_describe(rng)}")
        cuda_rng = payload.get("cuda_rng", [])
        if not isinstance(cuda_rng, list) or not all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8
                                                     for t in cuda_rng):
            raise fail("cuda_rng", f"must be a list of uint8 tensors, got {_describe(cuda_rng)}")
        for name in ("optimizer", "scheduler"):
            if not isinstance(payload[name], dict):
                raise fail(name, f"must be a state dict, got {_describe(payload[name])}")
        ema_state = payload.get("ema")
        if self.ema is not None and ema_state is not None:
            problem = self.ema.check_state(ema_state)
            if problem:
                raise fail("ema", problem)

        # Restore (all on throw-away copies first, so a failure leaves nothing half-restored).
        optimizer_state, scheduler_state = payload["optimizer"], payload["scheduler"]
        before = (_cpu_state(self.model), self.optimizer.state_dict(), self.scheduler.state_dict(), torch.get_rng_state())
        try:
            field = "model"
            self.model.load_state_dict(payload["model"])
            field = "optimizer"
            self.optimizer.load_state_dict(optimizer_state)
            self._check_optimizer_state(fail)
            field = "scheduler"
            self.scheduler.load_state_dict(scheduler_state)
            field = "torch_rng"
            torch.set_rng_state(rng)
            field = "cuda_rng"
            if cuda_rng and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(cuda_rng)
            if self.ema is not None:  # a checkpoint written without the EMA starts it from the restored weights
                field = "ema"
                if ema_state is not None:
                    self.ema.load_state_dict(ema_state)
                else:
                    self.ema = ParameterEMA(self.model, self.ema.decay)
        except InputError:
            self._restore(before)
            raise
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as exc:
            self._restore(before)
            raise fail(field, f"cannot be restored ({type(exc).__name__}: {_first_line(exc)})") from None
        return {k: payload[k] for k in ("epoch", "best_val_loss", "best_epoch", "bad_epochs", "history", "best_state")}

    def _check_state(self, fail, field: str, state, expected: dict) -> None:
        """Refuse a saved state dict whose names, shapes or dtypes differ from the model's."""
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise fail(field, f"must be a dict of tensors (the model's state_dict), got {_describe(state)}")
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise fail(field, f"does not fit the model being trained: missing {missing[:5]}, unexpected {extra[:5]}")
        for name, (shape, dtype) in expected.items():
            if tuple(state[name].shape) != shape:
                raise fail(field, f"tensor {name!r} has shape {list(state[name].shape)}, the model being trained has "
                                  f"{list(shape)} (was the checkpoint written with other settings, e.g. --hidden?)")
            if state[name].dtype != dtype:
                raise fail(field, f"tensor {name!r} is {state[name].dtype}, the model being trained is {dtype}")

    def _check_optimizer_state(self, fail) -> None:
        """Refuse Adam moments whose shapes differ from their parameters' (load_state_dict does not check)."""
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                for key, value in self.optimizer.state.get(param, {}).items():
                    if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                        raise fail("optimizer", f"state {key!r} has shape {list(value.shape)} for a parameter of "
                                                f"shape {list(param.shape)}")

    def _restore(self, before) -> None:
        model_state, optimizer_state, scheduler_state, rng = before
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(optimizer_state)
        self.scheduler.load_state_dict(scheduler_state)
        torch.set_rng_state(rng)


_CHECKPOINT_FIELDS = ("model", "optimizer", "scheduler", "torch_rng", "epoch", "best_val_loss", "best_epoch",
                      "bad_epochs", "history", "best_state")


def _architecture(model: torch.nn.Module) -> dict | None:
    """The model's JSON-able constructor arguments (``architecture()`` or ``config()``), or None."""
    for name in ("architecture", "config"):
        method = getattr(model, name, None)
        if callable(method):
            try:
                value = method()
            except Exception:  # noqa: BLE001 - a model without a usable description is simply not compared
                return None
            return value if isinstance(value, dict) else None
    return None


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {list(value.shape)}"
    return f"a {type(value).__name__}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _accumulate(totals: dict[str, float], loss: float, metrics: dict[str, float], n: int) -> None:
    """Add sample-weighted sums of the loss and metrics of one batch of ``n`` samples."""
    totals["__loss__"] = totals.get("__loss__", 0.0) + loss * n
    totals["__count__"] = totals.get("__count__", 0.0) + n
    for key, value in metrics.items():
        totals[key] = totals.get(key, 0.0) + float(value) * n
