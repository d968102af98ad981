"""Reporters: thermodynamic log columns and physics, trajectories readable by MDTraj and ASE, survival of kill -9."""

import csv
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from ase.calculators.lj import LennardJones as AseLennardJones

from integrators import (
    LangevinBAOAB,
    MetropolisMC,
    ProgressReporter,
    Simulation,
    ThermoLogReporter,
    TrajectoryReporter,
    VelocityVerlet,
)
from systems import units
from systems.catalogue import liquid_argon
from systems.potentials import LennardJones
from systems.trajectory_reader import read_frames

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLUMNS = ["step", "time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K", "pressure_GPa", "conserved_eV"]


def test_thermo_log_columns_units_and_pressure_against_ase(tmp_path):
    system = liquid_argon(64, seed=3)
    path = tmp_path / "thermo.csv"
    integrator = LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=94.4, friction_per_fs=0.01, seed=1)
    with Simulation(system, integrator, [ThermoLogReporter(path, 10)]) as sim:
        sim.run(50)
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == COLUMNS
    assert [int(r["step"]) for r in rows] == [0, 10, 20, 30, 40, 50]
    last = {k: float(v) for k, v in rows[-1].items()}
    assert last["time_ps"] == pytest.approx(0.25)
    assert last["etot_eV"] == pytest.approx(last["epot_eV"] + last["ekin_eV"], abs=1e-9)
    assert last["ekin_eV"] == pytest.approx(system.kinetic_energy(), rel=1e-10)
    assert last["temperature_K"] == pytest.approx(2 * system.kinetic_energy() / (3 * 64 * units.kB), rel=1e-10)
    assert last["conserved_eV"] == pytest.approx(last["etot_eV"] - integrator.energy_exchanged, abs=1e-9)
    # pressure: ideal-gas term plus the virial, checked against ASE's Lennard-Jones stress
    atoms = system.to_atoms()
    atoms.calc = AseLennardJones(sigma=3.405, epsilon=0.0103, rc=8.5, smooth=False)
    virial = -np.trace(atoms.get_stress(voigt=False)) / 3.0
    expected = (2 * system.kinetic_energy() / (3 * system.volume) + virial) / units.GPa
    assert last["pressure_GPa"] == pytest.approx(expected, rel=1e-6)


def test_thermo_log_to_a_stream_with_mc_columns():
    stream = io.StringIO()
    mc = MetropolisMC(LennardJones.argon(), temperature_K=90.0, seed=2)
    with ThermoLogReporter(stream, 5, pressure=False) as log:
        Simulation(liquid_argon(27, seed=1), mc, [log]).run(10)
    assert not stream.closed
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert list(rows[0]) == COLUMNS + ["mc_acceptance", "mc_step_A"]
    assert rows[-1]["pressure_GPa"] == "" and 0.0 <= float(rows[-1]["mc_acceptance"]) <= 1.0
    assert float(rows[-1]["epot_eV"]) == pytest.approx(mc.energy, abs=1e-9)


def test_trajectories_open_with_mdtraj_and_ase(tmp_path):
    import ase.io
    import mdtraj

    system = liquid_argon(32, seed=4)
    xtc, xyz = tmp_path / "run.xtc", tmp_path / "run.extxyz"
    progress = ProgressReporter(40, 10, file=io.StringIO())
    with Simulation(system, VelocityVerlet(LennardJones.argon(), timestep_fs=5.0),
                    [TrajectoryReporter(xtc, 10), TrajectoryReporter(xyz, 20), progress]) as sim:
        sim.run(40)
    traj = mdtraj.load(str(xtc), top=str(xtc.with_suffix(".pdb")))
    assert traj.n_frames == 5 and traj.n_atoms == 32
    assert np.allclose(traj.xyz[-1] * 10.0, system.positions, atol=2e-2)  # xtc keeps 0.001 nm
    assert np.allclose(traj.time, np.arange(5) * 0.05)
    frames = ase.io.read(str(xyz), ":")
    assert len(frames) == 3
    assert np.allclose(frames[-1].positions, system.positions, atol=1e-10)
    assert frames[-1].get_potential_energy() == pytest.approx(sim.integrator.last_result.energy, abs=1e-8)
    assert progress.ns_per_day > 0 and progress._bar.n == 40


KILL_SCRIPT = textwrap.dedent("""
    import sys, numba
    numba.set_num_threads(1)
    from integrators import Simulation, VelocityVerlet, TrajectoryReporter, ThermoLogReporter
    from systems.catalogue import liquid_argon
    from systems.potentials import LennardJones
    out = sys.argv[1]
    sim = Simulation(liquid_argon(64, seed=1), VelocityVerlet(LennardJones.argon(), timestep_fs=5.0),
                     [TrajectoryReporter(out + "/run.xtc", 5), TrajectoryReporter(out + "/run.extxyz", 5),
                      ThermoLogReporter(out + "/thermo.csv", 5)])
    sim.run(10**8)
""")


def test_trajectory_readable_after_kill_9(tmp_path):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path)], env=env, cwd=ROOT)
    log = tmp_path / "thermo.csv"
    try:
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if log.exists() and log.read_text().count("\n") > 20:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the simulation ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a frame cut off mid-write is reported as a warning and skipped
        xtc = list(read_frames(tmp_path / "run.xtc", top=str(tmp_path / "run.pdb")))
        xyz = list(read_frames(tmp_path / "run.extxyz"))
    assert len(xtc) >= 19 and len(xyz) >= 19
    for frames in (xtc, xyz):
        assert all(np.isfinite(f.positions).all() and f.positions.shape == (64, 3) for f in frames)
    assert np.allclose(xtc[10].positions, xyz[10].positions, atol=2e-2)


def test_thermo_log_of_an_open_system_has_no_pressure_and_verlet_follows_the_oscillator():
    from systems.catalogue import oscillator_1d

    system, potential = oscillator_1d("harmonic", x0=1.0, k=4.0, mass=1.0)  # ω = 2 per ASE time unit
    stream = io.StringIO()
    with Simulation(system, VelocityVerlet(potential, 0.001), [ThermoLogReporter(stream, 100)]) as sim:
        sim.run(1000)  # t = 1
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert len(rows) == 11 and all(r["pressure_GPa"] == "" for r in rows)
    assert system.positions[0, 0] == pytest.approx(np.cos(2.0), abs=1e-6)
    assert np.ptp([float(r["conserved_eV"]) for r in rows]) < 2.0 * (2.0 * 0.001) ** 2  # E·(ωΔ)², E = 2 eV


def _resumable_run(path, fmt, steps, resume_from=None, checkpoint_interval=20):
    """A 32-atom Langevin run writing ``path/run.<fmt>`` and ``path/thermo.csv`` every 5 steps with a
    checkpoint every ``checkpoint_interval``; from ``resume_from`` (a checkpoint) if given. Returns the
    progress reporter (for its bar) after the run."""
    from integrators import CheckpointReporter

    system = liquid_argon(32, temperature_K=90.0, seed=4)
    integrator = LangevinBAOAB(LennardJones.argon(), timestep_fs=5.0, temperature_K=90.0, friction_per_fs=0.005,
                               seed=5)
    progress = ProgressReporter(steps, interval=5, disable=True)
    reporters = [TrajectoryReporter(path / f"run.{fmt}", 5, append=resume_from is not None),
                 ThermoLogReporter(path / "thermo.csv", 5, append=resume_from is not None), progress,
                 CheckpointReporter(path / "checkpoint.npz", checkpoint_interval)]
    if resume_from is None:
        sim = Simulation(system, integrator, reporters)
    else:
        sim = Simulation.from_checkpoint(resume_from, integrator, reporters)
        assert progress.step == sim.step  # the bar continues from the checkpoint
    with sim:
        sim.run(steps - sim.step)
    assert progress.step == steps
    return progress


@pytest.mark.parametrize("fmt", ["xtc", "extxyz", "dcd", "nc"])
def test_from_checkpoint_cuts_files_back_and_continues_like_one_run(tmp_path, capsys, fmt):
    """A library run that got to step 35 with its last checkpoint at 20 (as after kill -9): from_checkpoint
    cuts frames and log rows of steps 25..35 and the continued run's files equal an uninterrupted run's.
    dcd stores no times: it is cut by count (frames of steps 0, 5, ..., 20)."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    _resumable_run(whole, fmt, 60)
    _resumable_run(killed, fmt, 35)
    capsys.readouterr()
    _resumable_run(killed, fmt, 60, resume_from=killed / "checkpoint.npz")
    err = capsys.readouterr().err
    assert f"resuming at step 20: run.{fmt}: kept 5 frames, dropped 3 written after step 20" in err
    assert "resuming at step 20: thermo.csv: kept 5 rows, dropped 3 written after step 20" in err
    assert (killed / "thermo.csv").read_bytes() == (whole / "thermo.csv").read_bytes()
    top = str(whole / "run.pdb") if fmt != "extxyz" else None
    a, b = list(read_frames(whole / f"run.{fmt}", top)), list(read_frames(killed / f"run.{fmt}", top))
    assert len(a) == len(b) == 13
    np.testing.assert_array_equal([f.positions for f in a], [f.positions for f in b])
    if fmt != "dcd":
        assert np.all(np.diff([f.time for f in b]) > 0)
