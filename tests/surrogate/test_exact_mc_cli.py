"""``surrogate run --integrator da-mc|nested-mc``: the reference drives the log, resume is exact, errors are clear."""

import csv

import numpy as np
import pytest
from ase.io import read

from surrogate.cli import main

# 32 copper atoms; the surrogate is a Lennard-Jones fit of copper (deliberately crude), the reference EMT
JOB = ["run", "--system", "bulk:Cu", "--repeat", "2", "--potential", "lj", "--sigma", "2.33", "--epsilon", "0.41",
       "--cutoff", "5", "--reference", "emt", "--temperature-K", "600", "--mc-step-size", "0.05", "--no-progress",
       "--threads", "1", "--log-interval", "5", "--traj-interval", "5", "--seed", "3"]


def rows(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("method,extra", [("nested-mc", ["--inner-steps", "3"]), ("da-mc", [])])
def test_resume_equals_the_uninterrupted_run(method, extra, tmp_path):
    job = JOB + ["--integrator", method] + extra
    assert main(job + ["--steps", "20", "--out", str(tmp_path / "straight")]) == 0
    assert main(job + ["--steps", "10", "--checkpoint-interval", "10", "--out", str(tmp_path / "split")]) == 0
    assert main(job + ["--steps", "20", "--checkpoint-interval", "10", "--resume",
                       "--out", str(tmp_path / "split")]) == 0
    a = read(tmp_path / "straight" / "trajectory.extxyz", index=":")
    b = read(tmp_path / "split" / "trajectory.extxyz", index=":")
    assert len(a) == len(b) == 5
    for x, y in zip(a, b):
        assert np.array_equal(x.positions, y.positions)  # the chain itself continues bit for bit
        # EMT keeps a neighbor list between calls that no checkpoint holds: its sums differ in the last bits
        assert x.get_potential_energy() == pytest.approx(y.get_potential_energy(), rel=1e-12, abs=1e-12)
    log = rows(tmp_path / "straight" / "thermo.csv")
    resumed = rows(tmp_path / "split" / "thermo.csv")
    exact = ("step", "mc_acceptance", "reference_calls", "nested_outer_accepted", "da_stage1_acceptance")
    assert [{k: r.get(k) for k in exact} for r in log] == [{k: r.get(k) for k in exact} for r in resumed]
    calls = [int(float(r["reference_calls"])) for r in log]
    assert calls[0] == 1 and calls == sorted(calls)
    if method == "nested-mc":
        assert calls[-1] == 21  # one per outer step, one at the start


def test_missing_reference_or_surrogate_is_a_clear_error(tmp_path, capsys):
    base = ["run", "--system", "bulk:Cu", "--repeat", "2", "--steps", "2", "--no-progress", "--threads", "1",
            "--out", str(tmp_path / "x")]
    assert main(base + ["--integrator", "da-mc", "--potential", "lj"]) == 2
    assert "needs the reference" in capsys.readouterr().err
    assert main(base + ["--integrator", "nested-mc", "--reference", "emt"]) == 2
    assert "needs a surrogate" in capsys.readouterr().err
