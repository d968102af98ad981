"""On-the-fly fallback (issue #12, Deliver 2): the reference is called exactly when the committee's force
spread crosses the threshold, the labelled set holds exactly those frames with the reference's numbers, and
a fallback run with retraining killed by SIGKILL and resumed repeats the uninterrupted run bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from integrators import Simulation, VelocityVerlet
from surrogate.fallback import FallbackProvider
from surrogate.labelled_set import LabelledSet
from systems.catalogue import liquid_argon
from systems.forces import ForceResult
from systems.potentials import LennardJones

from .fallback_helpers import emt_copper_frames, tiny_committee, write_frames

REPO = Path(__file__).resolve().parents[2]


class ScriptedUncertainty:
    """A real LJ provider whose committee spread is scripted per call: the switching logic under test reads
    only ``max_force_std``, so a script makes each step's decision known in advance."""

    def __init__(self, script):
        self.potential = LennardJones.argon(cutoff=8.5)
        self.script = list(script)
        self.calls = 0
        self.results = []

    def compute(self, system, stress=False):
        r = self.potential.compute(system, stress=stress)
        spread = self.script[self.calls]
        self.calls += 1
        self.results.append(r)
        return r._replace(uncertainty={"energy_std": 0.0, "forces_std": np.full(system.n_atoms, spread),
                                       "max_force_std": spread})


class CountingReference:
    """Another real LJ (σ 3.3 Å) that records every configuration and result it returns."""

    def __init__(self):
        self.potential = LennardJones(3.3, 0.0103, 8.5)
        self.seen = []

    def compute(self, system, stress=False):
        r = self.potential.compute(system, stress=stress)
        self.seen.append((system.positions.copy(), r))
        return r


def test_reference_called_exactly_above_threshold(tmp_path):
    steps, threshold = 30, 0.1
    script = np.random.default_rng(3).uniform(0.0, 0.2, steps + 1)  # call 0: initialize, then one per step
    surrogate, reference = ScriptedUncertainty(script), CountingReference()
    labelled = LabelledSet(tmp_path / "labelled.extxyz")
    provider = FallbackProvider(surrogate, reference, threshold, labelled=labelled)
    system = liquid_argon(32, seed=1)
    used = []
    integrator = VelocityVerlet(provider, timestep_fs=5.0)
    with Simulation(system, integrator) as sim:
        sim.run(0)  # the initial evaluation
        used.append(integrator.last_result)
        for _ in range(steps):
            sim.run(1)
            used.append(integrator.last_result)
    above = np.flatnonzero(script > threshold)
    assert surrogate.calls == steps + 1
    assert provider.evaluations == steps + 1
    assert provider.reference_calls == len(reference.seen) == len(above) > 0
    assert provider.thermo_fields()["reference_fraction"] == pytest.approx(len(above) / (steps + 1))
    # the integrator used the reference's forces exactly on the scripted steps, the surrogate's elsewhere
    ref_iter = iter(reference.seen)
    for k, result in enumerate(used):
        if k in above:
            assert np.array_equal(result.forces, next(ref_iter)[1].forces)
        else:
            assert np.array_equal(result.forces, surrogate.results[k].forces)
    # the labelled set: exactly the reference frames, with the reference's numbers (full float64 round trip)
    frames = labelled.frames()
    assert len(frames) == len(above)
    for frame, (positions, r) in zip(frames, reference.seen):
        assert np.array_equal(frame.positions, positions)
        assert np.array_equal(frame.forces, r.forces)
        assert frame.energy == r.energy
        assert np.array_equal(frame.numbers, system.numbers)
        assert np.array_equal(frame.cell, system.cell)


def test_same_configuration_is_one_call(tmp_path):
    """The driver's start-up check and an initial report asking for the stress evaluate the same state again:
    neither is a new reference call or a second label."""
    surrogate, reference = ScriptedUncertainty([1.0, 0.0]), CountingReference()
    provider = FallbackProvider(surrogate, reference, 0.5, labelled=LabelledSet(tmp_path / "l.extxyz"))
    system = liquid_argon(32, seed=2)
    a = provider.compute(system)
    b = provider.compute(system, stress=True)
    assert provider.evaluations == provider.reference_calls == provider.labelled.count == 1
    assert np.array_equal(a.forces, b.forces) and b.stress is not None
    assert np.allclose(b.stress, reference.potential.compute(system, stress=True).stress)


# ----------------------------------------------------------------- a real tiny committee
@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    """Two tiny EGNN members trained briefly on 10 EMT frames of 8 Cu atoms at 500 K, with the data file."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("committee")
    frames = emt_copper_frames(10, temperature_K=500.0, seed=0)
    write_frames(frames, root / "train.extxyz")
    paths = tiny_committee(root / "members", frames, k=2, epochs=3)
    from surrogate.egnn.committee import save_committee
    from surrogate.member_committee import load_members

    save_committee(load_members(paths), root / "committee.pt")
    return root, paths, frames


def test_real_committee_switches_on_its_own_spread(committee, tmp_path):
    from ase.calculators.emt import EMT

    from integrators import AseCalculatorProvider
    from surrogate.member_committee import committee_provider

    root, paths, frames = committee
    probe = committee_provider(paths)
    hot = emt_copper_frames(6, temperature_K=1500.0, seed=4)
    spreads = np.array([probe.compute(f.to_system()).uncertainty["max_force_std"] for f in hot])
    threshold = float(np.median(spreads))
    reference = AseCalculatorProvider(EMT())
    provider = FallbackProvider(committee_provider(paths), reference, threshold,
                                labelled=LabelledSet(tmp_path / "l.extxyz"))
    for f in hot:
        system = f.to_system()
        result = provider.compute(system)
        if result.uncertainty["max_force_std"] > threshold:
            assert np.allclose(result.forces, reference.compute(system).forces, rtol=0, atol=1e-12)
        else:
            assert np.array_equal(result.forces, probe.compute(system).forces)
    assert provider.reference_calls == int((spreads > threshold).sum()) == provider.labelled.count >= 1


def test_kill_and_resume_with_retraining_is_exact(committee, tmp_path):
    """A fallback run that retrains every 3 labelled frames, killed by SIGKILL mid-run after a retraining and
    resumed, writes the same trajectory, thermo log and labelled set as the uninterrupted run."""
    from surrogate.cli import main
    from surrogate.member_committee import committee_provider

    root, paths, frames = committee
    start = frames[-1].to_system()
    spread = committee_provider(paths).compute(start).uncertainty["max_force_std"]
    argv = ["run", "--system", str(root / "train.extxyz"), "--frame", "-1", "--model", str(root / "committee.pt"),
            "--reference", "emt", "--max-force-std", f"{spread:.6g}", "--retrain-every", "3", "--retrain-epochs", "1",
            "--training-data", str(root / "train.extxyz"), "--integrator", "langevin", "--temperature-K", "700",
            "--steps", "15", "--traj-interval", "1", "--checkpoint-interval", "3", "--no-progress",
            "--threads", "1", "--seed", "3"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    whole = tmp_path / "whole"
    version = __import__("json").loads((whole / "fallback.json").read_text())["committee_version"]
    assert version >= 2, "the test needs retrainings before and after the kill"

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "surrogate.cli", *argv, "--out", str(killed)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill after the first retraining and a checkpoint past it, before the end
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None:
            if (killed / "committee" / "v001.pt").exists() and _thermo_rows(killed) >= 8:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the run ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert _thermo_rows(killed) < 16
    assert main([*argv, "--out", str(killed), "--resume"]) == 0
    for name in ("trajectory.extxyz", "labelled.extxyz"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name
    assert (killed / "thermo.csv").read_text() == (whole / "thermo.csv").read_text()


def _thermo_rows(out: Path) -> int:
    path = out / "thermo.csv"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def test_fallback_options_are_checked(tmp_path, capsys):
    from surrogate.cli import main

    assert main(["run", "--retrain-every", "2", "--steps", "1", "--out", str(tmp_path / "a")]) == 2
    assert "--retrain-every needs --max-force-std" in capsys.readouterr().err
    assert main(["run", "--max-force-std", "0.1", "--steps", "1", "--out", str(tmp_path / "b")]) == 2
    assert "--max-force-std needs --model (a committee) and --reference" in capsys.readouterr().err
