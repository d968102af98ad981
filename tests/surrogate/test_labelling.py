"""Labelling and replicas on Dask: exact labels, a killed worker loses and duplicates nothing, reruns skip.

One LocalCluster of two worker processes is shared by the module (start-up is seconds).
"""

import os
import signal
import threading
import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read

from surrogate.labelling import label_frames, shard_dir

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def copper_frames(n, repeat=2, seed=0):
    """``n`` rattled fcc copper cells (4·repeat³ atoms), periodic."""
    rng = np.random.default_rng(seed)
    base = bulk("Cu", cubic=True).repeat((repeat,) * 3)
    frames = []
    for _ in range(n):
        atoms = base.copy()
        atoms.positions += rng.normal(scale=0.08, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def emt_labels(atoms):
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


def assert_labelled_once_in_order(out, frames):
    labelled = read(out, index=":")
    assert len(labelled) == len(frames)
    assert [a.info["frame_index"] for a in labelled] == list(range(len(frames)))
    for atoms, got in zip(frames, labelled):
        assert np.array_equal(got.positions, atoms.positions)  # full precision, not ASE's 8 decimals
    return labelled


def test_labels_equal_the_references_own_numbers(client, tmp_path):
    frames = copper_frames(6)
    out = label_frames(frames, "emt", tmp_path / "labelled.extxyz", scheduler=client)
    labelled = assert_labelled_once_in_order(out, frames)
    for atoms, got in zip(frames, labelled):
        energy, forces, stress = emt_labels(atoms)
        assert got.get_potential_energy() == energy
        assert np.array_equal(got.get_forces(), forces)
        assert np.array_equal(got.get_stress(voigt=False), stress)
    # the --threads rule ran inside each worker that labelled (one OpenMP thread each on a given cluster)
    assert set(client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) <= {"1", None}
    assert "1" in client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()


def test_rerun_skips_labelled_frames_and_relabels_a_changed_one(client, tmp_path):
    frames = copper_frames(4, seed=1)
    out = tmp_path / "labelled.extxyz"
    label_frames(frames, "emt", out, scheduler=client)
    shards = sorted(shard_dir(out).iterdir())
    stamps = {p.name: p.stat().st_mtime_ns for p in shards}
    # nothing to do: no cluster is contacted (this address has no scheduler)
    label_frames(frames, "emt", out, scheduler="tcp://127.0.0.1:9")
    assert {p.name: p.stat().st_mtime_ns for p in sorted(shard_dir(out).iterdir())} == stamps
    frames[2].positions[0] += 0.05
    label_frames(frames, "emt", out, scheduler=client)
    labelled = assert_labelled_once_in_order(out, frames)
    assert labelled[2].get_potential_energy() == emt_labels(frames[2])[0]
    kept = {p.name: p.stat().st_mtime_ns for p in shard_dir(out).iterdir() if p.name in stamps}
    assert kept == stamps  # the unchanged frames were not recomputed


def test_a_killed_worker_loses_and_duplicates_no_frame(client, tmp_path):
    frames = copper_frames(24, repeat=3, seed=2)
    out = tmp_path / "labelled.extxyz"
    pids = client.run(os.getpid)  # {worker address: pid}
    done_at_kill = []
    errors = []

    def work():
        try:
            label_frames(frames, "emt", out, scheduler=client)
        except Exception as err:  # reported by the assertion below
            errors.append(err)

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (shard_dir(out).is_dir() and any(shard_dir(out).iterdir())):
        time.sleep(0.005)
    victim = sorted(pids.values())[0]
    done_at_kill.append(len(list(shard_dir(out).iterdir())))
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors
    assert 1 <= done_at_kill[0] < len(frames), done_at_kill  # the kill came mid-run
    assert victim not in client.run(os.getpid).values()  # that worker process is gone (the nanny started another)
    labelled = assert_labelled_once_in_order(out, frames)
    assert len(list(shard_dir(out).glob("*.extxyz"))) == len(frames)
    assert not list(shard_dir(out).glob(".*.tmp"))  # a write the kill interrupted leaves nothing behind
    for k in (0, len(frames) // 2, len(frames) - 1):
        assert labelled[k].get_potential_energy() == emt_labels(frames[k])[0]


def test_generate_replicas_equal_single_runs_with_those_seeds(client, tmp_path):
    from surrogate.cli import main

    job = ["generate", "--system", "liquid-argon", "--n-atoms", "32", "--steps", "10", "--equilibrate-ps", "0.5",
           "--no-progress", "--threads", "1"]
    address = client.scheduler.address
    assert main(job + ["--replicas", "2", "--seed", "7", "--out", str(tmp_path / "reps"), "--scheduler", address]) == 0
    for i, seed in enumerate((7, 8)):
        single = tmp_path / f"single_{seed}"
        assert main(job + ["--seed", str(seed), "--out", str(single)]) == 0
        replica = tmp_path / "reps" / f"replica_{i:03d}"
        for name in ("trajectory.extxyz", "thermo.csv"):
            assert (replica / name).read_bytes() == (single / name).read_bytes(), (i, name)
    assert (tmp_path / "reps" / "replica_000" / "trajectory.extxyz").read_bytes() != \
        (tmp_path / "reps" / "replica_001" / "trajectory.extxyz").read_bytes()


def test_replica_command_lines():
    from surrogate.replica_jobs import replica_argv

    argv = ["generate", "--replicas", "3", "--scheduler=tcp://h:8786", "--workers", "2", "--seed", "4", "--out", "o"]
    assert replica_argv(argv, 2, 4, "o") == ["generate", "--seed", "4", "--out", "o", "--seed", "6", "--out",
                                             "o/replica_002"]


def test_active_learning_labeller_on_dask_equals_the_in_process_labels(client, tmp_path):
    """`surrogate learn --scheduler/--workers` labels through Dask: the same Frames as labelling in-process."""
    from surrogate.learn import dask_labeller, label
    from surrogate.reference import reference_provider
    from systems.state import System

    states = [System.from_atoms(a) for a in copper_frames(3, seed=5)]
    reference, _, _ = reference_provider("emt", None, numbers=states[0].numbers)
    here = label(states, reference)
    labeller = dask_labeller("emt", tmp_path / "labels", scheduler=client)
    there = labeller(states)
    assert len(there) == len(here) == 3
    for a, b, s in zip(here, there, states):
        assert b.energy == pytest.approx(a.energy, abs=1e-12)
        np.testing.assert_allclose(b.forces, a.forces, rtol=0, atol=1e-12)
        assert np.array_equal(b.positions, s.positions) and np.array_equal(b.masses, s.masses)
    assert labeller(states)[2].energy == there[2].energy  # a rerun reads the finished labels back
