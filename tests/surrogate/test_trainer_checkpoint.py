"""Trainer checkpoint.pt is validated field by field before anything is restored (issue 10)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from surrogate.training import TrainConfig, Trainer
from systems.errors import InputError


class Net(torch.nn.Module):
    """A two-layer regression net that describes itself, as the package's models do."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.body = torch.nn.Sequential(torch.nn.Linear(3, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 1))

    def forward(self, x):
        return self.body(x)

    def architecture(self) -> dict:
        return {"hidden": self.hidden, "inputs": 3}


def _loss(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean(), {}


def _trainer(out, hidden=8, epochs=2, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(24, 3, generator=gen, dtype=torch.float64)
    data = TensorDataset(x, x[:, :1] * x[:, 1:2])
    config = TrainConfig(max_epochs=epochs, batch_size=8, progress=False, out_dir=str(out))
    return Trainer(Net(hidden).double(), _loss, data, data, config)


@pytest.fixture()
def run(tmp_path):
    _trainer(tmp_path).fit()
    return tmp_path


def _edit(run, edit):
    path = run / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, path)


def test_checkpoint_records_the_architecture_and_refuses_another(run):
    assert torch.load(run / "checkpoint.pt", weights_only=True)["architecture"] == {"hidden": 8, "inputs": 3}
    trainer = _trainer(run, hidden=16, epochs=3)
    with pytest.raises(InputError, match=r"checkpoint\.pt: field 'architecture' differs from the model being trained: "
                                         r"the checkpoint was written with hidden=8 \(now 16\)"):
        trainer.fit(resume=True)


@pytest.mark.parametrize("field, edit, words", [
    ("best_state", lambda p: p["best_state"].__setitem__("body.0.weight", torch.zeros(8, 4, dtype=torch.float64)),
     "tensor 'body.0.weight' has shape [8, 4], the model being trained has [8, 3]"),
    ("model", lambda p: p["model"].__setitem__("body.0.bias", torch.zeros(8, dtype=torch.float32)),
     "tensor 'body.0.bias' is torch.float32"),
    ("model", lambda p: p["model"].pop("body.2.bias"), "missing ['body.2.bias']"),
    ("history", lambda p: p.__setitem__("history", p["history"][:1]), "must be a list of 2 per-epoch dicts"),
    ("config", lambda p: p.__setitem__("config", [1, 2]), "must be a dict"),
    ("cuda_rng", lambda p: p.__setitem__("cuda_rng", "abc"), "must be a list of uint8 tensors"),
    ("optimizer", lambda p: p["optimizer"]["state"][0].__setitem__("exp_avg", torch.zeros(2, 2, dtype=torch.float64)),
     "state 'exp_avg' has shape [2, 2] for a parameter of shape [8, 3]"),
    ("scheduler", lambda p: p.__setitem__("scheduler", torch.zeros(2)), "must be a state dict"),
])
def test_bad_checkpoint_fields_are_named_and_nothing_is_restored(run, field, edit, words):
    _edit(run, edit)
    trainer = _trainer(run, epochs=3, seed=5)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(InputError) as info:
        trainer.fit(resume=True)
    message = str(info.value)
    assert "checkpoint.pt" in message and f"field {field!r}" in message and words in message, message
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert not trainer.optimizer.state  # Adam moments untouched (fresh)


def test_good_checkpoint_still_resumes_to_the_uninterrupted_result(tmp_path, run):
    straight = _trainer(tmp_path / "straight", epochs=3)
    straight.fit()
    resumed = _trainer(run, epochs=3, seed=5)  # another seed: every bit of state must come from the checkpoint
    resumed.fit(resume=True)
    assert all(torch.equal(a, b) for a, b in zip(straight.model.state_dict().values(),
                                                resumed.model.state_dict().values()))


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_checkpoint_is_refused_without_running_or_suggesting_the_unsafe_retry(run):
    marker = run / "pwned"
    torch.save({"model": _Evil(marker)}, run / "checkpoint.pt")
    with pytest.raises(InputError) as info:
        _trainer(run, epochs=3).fit(resume=True)
    message = str(info.value)
    assert "checkpoint.pt was refused" in message and "posix.system" in message
    assert "weights_only" not in message and "trusted source" not in message
    assert not marker.exists()
