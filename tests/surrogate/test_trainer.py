"""Training loop: overfitting, schedule and early stopping, exact resume, torchrun DDP parity."""

import csv
import importlib.util
import math
import os
import pathlib
import subprocess
import sys

import pytest
import torch
from torch.utils.data import TensorDataset

from surrogate.model_file import load_model_file
from surrogate.training import TrainConfig, Trainer
from systems.errors import InputError

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: torch's thread pool only adds contention on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _regression(n=48, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=gen, dtype=dtype)
    y = torch.sin(x[:, :1] * 2.0) + x[:, 1:2] * x[:, 2:3]
    return TensorDataset(x, y)


def _mlp(seed, dtype=torch.float64, dropout=0.0):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(3, 32), torch.nn.SiLU()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    layers += [torch.nn.Linear(32, 32), torch.nn.SiLU(), torch.nn.Linear(32, 1)]
    return torch.nn.Sequential(*layers).to(dtype)


def mse_loss(model, batch):
    x, y = batch
    err = model(x) - y
    return (err**2).mean(), {"mae": float(err.detach().abs().mean())}


def gradient_matching_loss(model, batch):
    """Value plus input-gradient loss (autograd with create_graph, like force training of a potential)."""
    x, y = batch
    x = x.clone().requires_grad_(True)
    out = model(x)
    grad = torch.autograd.grad(out.sum(), x, create_graph=True)[0]
    loss = ((out - y) ** 2).mean() + ((grad - torch.cos(x.detach())) ** 2).mean()
    return loss, {}


def train_tiny(out_dir, epochs=3, batch_size=8, n=50, loss_fn=mse_loss):
    """Shared by the single-process run and the torchrun script: float64, no dropout."""
    model = _mlp(seed=1)
    config = TrainConfig(max_epochs=epochs, batch_size=batch_size, lr=1e-2, seed=3, out_dir=str(out_dir),
                         progress=False, early_stopping_patience=100)
    trainer = Trainer(model, loss_fn, _regression(n=n), _regression(n=14, seed=5), config)
    history = trainer.fit()
    trainer.close()
    return model, history


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_overfits_tiny_regression_and_writes_files(tmp_path):
    data = _regression(n=8)
    model = _mlp(seed=0)
    config = TrainConfig(max_epochs=200, batch_size=8, lr=2e-2, out_dir=str(tmp_path / "run"), progress=False,
                         lr_patience=50, early_stopping_patience=200)
    history = Trainer(model, mse_loss, data, data, config).fit()
    x, y = data.tensors
    assert float(((model(x) - y) ** 2).mean().detach()) < 1e-5
    assert history["best_val_loss"] < 1e-5
    # metrics.csv: one row per epoch, the loss columns and the metric columns.
    with open(tmp_path / "run" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == history["epochs_run"] == 200
    assert {"epoch", "train_loss", "val_loss", "lr", "time_s", "train_mae", "val_mae"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < 1e-2 * float(rows[0]["train_loss"])
    # best.pt is a safe model file holding the best weights (restored into the model).
    header, state = load_model_file(tmp_path / "run" / "best.pt", expected_kind="state_dict")
    assert header["model_class"] == "Sequential"
    for name, value in model.state_dict().items():
        assert torch.equal(state[name], value)


def test_plateau_schedule_and_early_stopping(tmp_path):
    data = _regression(n=16)

    def flat_val_loss(model, batch):
        loss, metrics = mse_loss(model, batch)
        return (loss if model.training else loss.detach() * 0 + 1.0), metrics

    config = TrainConfig(max_epochs=100, batch_size=8, lr=1e-3, lr_factor=0.5, lr_patience=2,
                         early_stopping_patience=5, out_dir=str(tmp_path), progress=False)
    history = Trainer(_mlp(0), flat_val_loss, data, data, config).fit()
    # The val loss never improves after epoch 0: stop after 5 bad epochs.
    assert history["stopped_early"] and history["epochs_run"] == 6 and history["best_epoch"] == 0
    lrs = [row["lr"] for row in history["epochs"]]
    # ReduceLROnPlateau halves the LR after more than lr_patience=2 bad epochs (after epoch 3).
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4])


def test_cosine_schedule_decays_to_min_lr(tmp_path):
    data = _regression(n=16)
    config = TrainConfig(max_epochs=6, batch_size=8, lr=1e-2, min_lr=1e-4, schedule="cosine",
                         out_dir=str(tmp_path), progress=False)
    history = Trainer(_mlp(0), mse_loss, data, data, config).fit()
    lrs = [row["lr"] for row in history["epochs"]]
    expected = [1e-4 + 0.5 * (1e-2 - 1e-4) * (1 + math.cos(math.pi * e / 6)) for e in range(6)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    with pytest.raises(InputError, match="max_epochs=6"):
        Trainer(_mlp(0), mse_loss, data, data, TrainConfig(max_epochs=9, batch_size=8, lr=1e-2, min_lr=1e-4,
                                                           schedule="cosine", out_dir=str(tmp_path),
                                                           progress=False)).fit(resume=True)
    with pytest.raises(InputError, match="schedule"):
        TrainConfig(schedule="linear").validate()


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("schedule", ["plateau", "cosine"])
def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, schedule):
    data, val = _regression(n=40), _regression(n=12, seed=9)
    kwargs = dict(max_epochs=8, batch_size=8, lr=5e-3, lr_patience=1, progress=False, schedule=schedule)

    full_model = _mlp(seed=0, dropout=0.2)  # dropout: the RNG state must be restored too
    full = Trainer(full_model, mse_loss, data, val, TrainConfig(out_dir=str(tmp_path / "full"), **kwargs)).fit()

    calls = {"n": 0}

    def crashing_loss(model, batch):
        calls["n"] += model.training
        if calls["n"] == 5 * 4 + 3:  # mid-epoch 4 (5 batches per epoch)
            raise _Interrupt
        return mse_loss(model, batch)

    run_dir = tmp_path / "resumed"
    with pytest.raises(_Interrupt):
        Trainer(_mlp(seed=0, dropout=0.2), crashing_loss, data, val, TrainConfig(out_dir=str(run_dir), **kwargs)).fit()
    # A fresh process would build its model from scratch: a different init must not matter.
    resumed_model = _mlp(seed=123, dropout=0.2)
    resumed = Trainer(resumed_model, mse_loss, data, val, TrainConfig(out_dir=str(run_dir), **kwargs)).fit(resume=True)

    assert torch.equal(_weights(resumed_model), _weights(full_model))
    strip = lambda h: [{k: v for k, v in row.items() if k != "time_s"} for row in h["epochs"]]  # noqa: E731
    assert strip(resumed) == strip(full)
    assert resumed["best_epoch"] == full["best_epoch"]
    with open(run_dir / "metrics.csv") as handle:
        assert [int(r["epoch"]) for r in csv.DictReader(handle)] == list(range(8))


def test_resume_refuses_changed_batch_size(tmp_path):
    data = _regression(n=16)
    Trainer(_mlp(0), mse_loss, data, data, TrainConfig(max_epochs=1, batch_size=8, out_dir=str(tmp_path),
                                                       progress=False)).fit()
    trainer = Trainer(_mlp(0), mse_loss, data, data, TrainConfig(max_epochs=2, batch_size=4, out_dir=str(tmp_path),
                                                                 progress=False))
    with pytest.raises(InputError, match="batch_size=8"):
        trainer.fit(resume=True)


def test_bad_config_and_nan_loss(tmp_path):
    data = _regression(n=8)
    with pytest.raises(InputError, match="batch_size"):
        Trainer(_mlp(0), mse_loss, data, data, TrainConfig(batch_size=0, out_dir=str(tmp_path)))
    with pytest.raises(InputError, match="lr_factor"):
        Trainer(_mlp(0), mse_loss, data, data, TrainConfig(lr_factor=1.5, out_dir=str(tmp_path)))

    def nan_loss(model, batch):
        loss, metrics = mse_loss(model, batch)
        return loss * float("nan"), metrics

    with pytest.raises(FloatingPointError, match="epoch 0"):
        Trainer(_mlp(0), nan_loss, data, data, TrainConfig(out_dir=str(tmp_path), progress=False)).fit()


_DDP_SCRIPT = """
import os, sys, torch
sys.path.insert(0, {repo!r})
from tests.surrogate.test_trainer import gradient_matching_loss, mse_loss, train_tiny
results = {{}}
for name, loss_fn in (("mse", mse_loss), ("gradient", gradient_matching_loss)):
    model, history = train_tiny(os.path.join({out!r}, name), loss_fn=loss_fn)
    results[name] = {{"weights": [p.detach() for p in model.parameters()],
                      "val": [row["val_loss"] for row in history["epochs"]]}}
if int(os.environ["RANK"]) == 0:
    torch.save(results, {result!r})
"""


def torchrun_command() -> list[str] | None:
    """The torchrun launcher of the interpreter running the tests, or None where it is truly absent.

    The venv's own ``torchrun`` sits beside ``sys.executable`` (found without activating the venv, as under
    ``.venv/bin/python -m pytest``); otherwise ``python -m torch.distributed.run`` if that module exists.
    ``hasattr(torch.distributed, "run")`` is no test: the submodule is absent until something imports it.
    """
    beside = pathlib.Path(sys.executable).parent / "torchrun"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    if torch.distributed.is_available() and importlib.util.find_spec("torch.distributed.run") is not None:
        return [sys.executable, "-m", "torch.distributed.run"]
    return None


@pytest.mark.skipif(torchrun_command() is None, reason="torch has no torch.distributed.run (torchrun) here")
def test_torchrun_two_processes_equal_single_process(tmp_path):
    script = tmp_path / "ddp_train.py"
    result = tmp_path / "ddp_result.pt"
    script.write_text(_DDP_SCRIPT.format(repo=str(REPO), out=str(tmp_path / "ddp_run"), result=str(result)))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [*torchrun_command(), "--standalone", "--nproc-per-node", "2", str(script)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = torch.load(result, weights_only=True)

    # Plain MSE, and a loss that differentiates the model w.r.t. its input (double backward under DDP);
    # both trainers ran one after the other in the same torchrun workers (shared process group).
    for name, loss_fn in (("mse", mse_loss), ("gradient", gradient_matching_loss)):
        ddp = results[name]
        single_model, single_history = train_tiny(tmp_path / "single_run" / name, loss_fn=loss_fn)
        for p_ddp, p_single in zip(ddp["weights"], single_model.parameters()):
            torch.testing.assert_close(p_ddp, p_single.detach(), rtol=1e-9, atol=1e-9)
        assert ddp["val"] == pytest.approx([row["val_loss"] for row in single_history["epochs"]], rel=1e-9)
        # Training really moved the weights, so agreement is not trivial.
        assert not torch.allclose(_weights(single_model), _weights(_mlp(seed=1)))
        # Only rank 0 wrote files, and it wrote all of them.
        written = sorted(p.name for p in (tmp_path / "ddp_run" / name).iterdir())
        assert written == ["best.pt", "checkpoint.pt", "metrics.csv"]
