"""The command line refuses bad model files and bad trainer checkpoints with exit status 2 and one line
naming the file and the field, never a traceback (issue 10, "Model headers" and "Trainer checkpoint.pt")."""

from __future__ import annotations

import pytest
import torch

from surrogate.cli import main
from tests.surrogate.model_file_helpers import MAKERS, deleter, edited, setter


def run_cli(argv, capsys):
    """Exit status and stderr of ``surrogate ARGV`` run in-process."""
    status = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return status, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_models")
    return {kind: make(root / f"{kind}.pt") for kind, make in MAKERS.items()}


def _run_args(kind, model, out):
    common = ["--model", model, "--steps", 2, "--no-progress", "--out", out]
    if kind == "egnn":
        return ["run", "--system", "liquid-argon", "--n-atoms", 32, "--integrator", "verlet", "--equilibrate-ps", 0,
                *common]
    if kind == "lstm":
        return ["run", "--integrator", "lstm", "--system", "lj-cluster", "--n-atoms", 4, *common]
    return ["run", "--integrator", "lstm", "--system", "liquid-argon", "--n-atoms", 32, *common]


# (kind, field, edit): the "Model headers" cases of the issue, saved with a matching hash so that only the
# header validation can refuse them.
HEADER_CASES = [
    ("egnn", "architecture.avg_num_neighbors", setter("architecture.avg_num_neighbors", 0)),
    ("egnn", "architecture.cutoff", setter("architecture.cutoff", -5)),
    ("egnn", "architecture.cutoff", setter("architecture.cutoff", "abc")),
    ("egnn", "architecture.hidden", setter("architecture.hidden", 15000)),
    ("lstm", "architecture", deleter("architecture")),
    ("lstm", "architecture.hidden", setter("architecture.hidden", [16, 16])),
    ("lstm_manybody", "architecture.n_rbf", deleter("architecture.n_rbf")),
    ("lstm_manybody", "architecture.hidden", setter("architecture.hidden", 16)),
]


@pytest.mark.parametrize("kind, field, edit", HEADER_CASES, ids=[f"{k}-{f}-{i}" for i, (k, f, _) in
                                                                 enumerate(HEADER_CASES)])
def test_run_with_a_bad_model_header_exits_2_naming_file_and_field(files, tmp_path, capsys, kind, field, edit):
    bad = edited(files[kind], tmp_path / "BAD.pt", edit, rehash=True)
    status, err = run_cli(_run_args(kind, bad, tmp_path / "out"), capsys)
    assert status == 2, err
    assert "BAD.pt" in err and f"'{field}" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("kind, field, value", [("egnn", "architecture.cutoff", 9.0),
                                                ("egnn", "architecture.species", [29]),
                                                ("lstm", "stride_steps", 200), ("lstm", "architecture.window", 3),
                                                ("lstm_manybody", "system.n_atoms", 999)])
def test_run_with_a_hand_edited_model_exits_2_saying_it_was_modified(files, tmp_path, capsys, kind, field, value):
    bad = edited(files[kind], tmp_path / "EDITED.pt", setter(field, value))
    status, err = run_cli(_run_args(kind, bad, tmp_path / "out"), capsys)
    assert status == 2 and "EDITED.pt was modified or damaged" in err and "Traceback" not in err, err


def test_run_with_a_flipped_weight_byte_exits_2(files, tmp_path, capsys):
    raw = bytearray(files["egnn"].read_bytes())
    state = torch.load(files["egnn"], weights_only=True)["state_dict"]
    where = bytes(raw).find(state["readout.0.weight"].numpy().tobytes())
    assert where > 0
    raw[where + 10] ^= 0x01
    (tmp_path / "FLIPPED.pt").write_bytes(bytes(raw))
    status, err = run_cli(_run_args("egnn", tmp_path / "FLIPPED.pt", tmp_path / "out"), capsys)
    assert status == 2 and "FLIPPED.pt was modified or damaged" in err and "Traceback" not in err, err


# ---------------------------------------------------------------- trainer checkpoint.pt
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny EGNN training run (1 epoch) on LJ argon frames: its data file and output folder."""
    import numpy as np
    from ase.build import bulk
    from ase.calculators.lj import LennardJones
    from ase.io import write

    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(6):
        atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 1, 1))
        atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=4.5, smooth=True)
        atoms.get_potential_energy()
        frames.append(atoms)
    data = root / "argon.extxyz"
    write(data, frames)
    out = root / "run"
    assert main(["train", "egnn", str(data), "--max-epochs", "1", "--hidden", "8", "--layers", "1", "--cutoff", "4",
                 "--batch-size", "2", "--val-fraction", "0.34", "--no-progress", "--out", str(out)]) == 0
    assert (out / "checkpoint.pt").is_file()
    return data, out


def _resume(trained, tmp_path, capsys, edit=None, replace=None, extra=()):
    import shutil

    data, out = trained
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    checkpoint = copy / "checkpoint.pt"
    if replace is not None:
        torch.save(replace, checkpoint)
    elif edit is not None:
        payload = torch.load(checkpoint, weights_only=True)
        edit(payload)
        torch.save(payload, checkpoint)
    return run_cli(["train", "egnn", data, "--max-epochs", 2, "--hidden", 8, "--layers", 1, "--cutoff", 4,
                    "--batch-size", 2, "--val-fraction", 0.34, "--no-progress", "--resume", "--out", copy, *extra],
                   capsys)


def _reshape_species_table(payload):
    name = "species_table"
    payload["model"][name] = torch.zeros(*payload["model"][name].shape, 2)


CHECKPOINT_CASES = [
    ("bare tensor", dict(replace=torch.zeros(3)), "is not a training checkpoint: it holds a Tensor"),
    ("no model", dict(edit=lambda p: p.pop("model")), "field 'model' is missing"),
    ("wrong shape", dict(edit=_reshape_species_table), "field 'model' tensor 'species_table' has shape [119, 2]"),
    ("float rng", dict(edit=lambda p: p.__setitem__("torch_rng", torch.zeros(5056))), "field 'torch_rng' must be"),
    ("short rng", dict(edit=lambda p: p.__setitem__("torch_rng", p["torch_rng"][:100])), "field 'torch_rng' must be"),
    ("rng string", dict(edit=lambda p: p.__setitem__("torch_rng", "abc")), "field 'torch_rng' must be"),
    ("optimizer", dict(edit=lambda p: p.__setitem__("optimizer", {"state": {}, "param_groups": []})),
     "field 'optimizer' cannot be restored"),
    ("epoch", dict(edit=lambda p: p.__setitem__("epoch", "abc")), "field 'epoch' must be an integer"),
    ("other hidden", dict(extra=["--hidden", 16]), "field 'architecture' differs"),
]


@pytest.mark.parametrize("case, how, words", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_resume_from_a_bad_checkpoint_exits_2_naming_file_and_field(trained, tmp_path, capsys, case, how, words):
    status, err = _resume(trained, tmp_path, capsys, **how)
    assert status == 2, err
    assert "checkpoint.pt" in err and words in err and "Traceback" not in err, err
    if case == "other hidden":
        assert "hidden=8 (now 16)" in err and "--hidden" in err


def test_resume_from_the_good_checkpoint_continues(trained, tmp_path, capsys):
    status, err = _resume(trained, tmp_path, capsys)
    assert status == 0, err
    lines = (tmp_path / "run" / "metrics.csv").read_text().strip().splitlines()
    assert len(lines) == 3  # header, epoch 0 (from the checkpoint), epoch 1
