"""Run a short i-PI molecular dynamics with an exported metatomic model, and read what i-PI wrote.

i-PI (the server) integrates the dynamics; ``i-pi-driver-py -m metatomic`` (the client) evaluates the
exported model and sends energy, forces and virial over a UNIX socket. Both are started here as
subprocesses in a working folder, the socket in that folder (``sockets_prefix``), each with a timeout,
and both are killed if anything fails. Used by the i-PI test and ``benchmarks/engine_metatomic.py``;
``examples/ipi/`` holds the same input for use by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from systems.errors import InputError

#: i-PI input for NVE; the placeholders are filled by :func:`ipi_input`
INPUT_TEMPLATE = """<simulation verbosity="low" safe_stride="1000" floatformat="%24.15e" sockets_prefix="{prefix}">
  <output prefix="simulation">
    <properties stride="1" filename="out" flush="1">
      [ step, time{{picosecond}}, conserved{{electronvolt}}, temperature{{kelvin}}, potential{{electronvolt}} ]
    </properties>
    <trajectory filename="pos" stride="1" format="ase" flush="1">
      positions{{ase}}
    </trajectory>
  </output>
  <total_steps> {steps} </total_steps>
  <prng><seed> {seed} </seed></prng>
  <ffsocket name="metatomic" mode="unix" pbc="false">
    <address> {address} </address>
  </ffsocket>
  <system>
    <initialize nbeads="1">
      <file mode="ase"> {structure} </file>
      <velocities mode="thermal" units="kelvin"> {temperature_K} </velocities>
    </initialize>
    <forces><force forcefield="metatomic"/></forces>
    <ensemble><temperature units="kelvin"> {temperature_K} </temperature></ensemble>
    <motion mode="dynamics">
      <dynamics mode="nve"><timestep units="femtosecond"> {timestep_fs} </timestep></dynamics>
    </motion>
  </system>
</simulation>
"""


class IPIRun(NamedTuple):
    """What i-PI wrote: steps [F] int, potential [F] eV, conserved [F] eV, positions [F, n, 3] Å, cell [3, 3] Å."""

    steps: np.ndarray
    potential: np.ndarray
    conserved: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    wall_s: float


def ipi_input(structure: str, steps: int, address: str, prefix: str, timestep_fs: float = 0.5,
              temperature_K: float = 300.0, seed: int = 12345) -> str:
    """The i-PI XML of an NVE run from ``structure`` (an extxyz file name, read through ASE)."""
    return INPUT_TEMPLATE.format(structure=structure, steps=int(steps), address=address, prefix=prefix,
                                 timestep_fs=timestep_fs, temperature_K=temperature_K, seed=int(seed))


def ipi_available() -> bool:
    """Whether i-PI and its Python driver can be run from this Python environment."""
    try:
        import ipi  # noqa: F401
    except ImportError:
        return False
    return _executable("i-pi") is not None and _executable("i-pi-driver-py") is not None


def _executable(name: str) -> str | None:
    """``name`` next to this Python (a virtual environment's bin/), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def run_ipi_nve(model_path, atoms, workdir, steps: int = 20, timestep_fs: float = 0.5,
                temperature_K: float = 300.0, seed: int = 12345, timeout_s: float = 120.0,
                threads: int = 1) -> IPIRun:
    """Run ``steps`` of i-PI NVE on ``atoms`` (ASE Atoms with a periodic cell) driven by the metatomic model.

    Writes ``init.extxyz``, ``input.xml`` and i-PI's outputs into ``workdir``; returns :class:`IPIRun`.
    Raises RuntimeError with the tail of both processes' logs when either fails or ``timeout_s`` passes.
    """
    import ase.io

    if not atoms.pbc.all():
        raise InputError("i-PI run: give a cell periodic along all three axes (i-PI always has one)")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    structure = workdir / "init.extxyz"
    ase.io.write(structure, atoms, format="extxyz")
    # UNIX socket paths are limited to ~107 bytes: the socket goes in a short folder of its own.
    import tempfile

    sockdir = Path(tempfile.mkdtemp(prefix="ipi-"))
    prefix = f"{sockdir}/"
    address = "mta"
    (workdir / "input.xml").write_text(ipi_input(structure.name, steps, address, prefix, timestep_fs,
                                                 temperature_K, seed))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    server = client = None
    server_log = open(workdir / "i-pi.log", "w")
    client_log = open(workdir / "driver.log", "w")
    start = time.perf_counter()
    try:
        server = subprocess.Popen([_executable("i-pi"), "input.xml"], cwd=workdir, env=env,
                                  stdout=server_log, stderr=subprocess.STDOUT)
        socket_path = Path(prefix + address)
        while not socket_path.exists():
            if server.poll() is not None or time.perf_counter() - start > timeout_s:
                raise RuntimeError("i-PI did not open its socket")
            time.sleep(0.05)
        client = subprocess.Popen(
            [_executable("i-pi-driver-py"), "-u", "-S", prefix, "-a", address, "-m", "metatomic",
             "-o", f"template={structure},model={Path(model_path).resolve()},device=cpu"],
            cwd=workdir, env=env, stdout=client_log, stderr=subprocess.STDOUT)
        remaining = timeout_s - (time.perf_counter() - start)
        try:
            rc = server.wait(timeout=max(remaining, 1.0))
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"i-PI did not finish {steps} steps within {timeout_s:.0f} s") from None
        if rc != 0:
            raise RuntimeError(f"i-PI exited with status {rc}")
        try:
            client.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # the driver's exit after i-PI's has nothing to give; it is killed below
        wall = time.perf_counter() - start
    except RuntimeError as exc:
        _stop(client)
        _stop(server)
        server_log.close()
        client_log.close()
        tail = lambda p: "\n".join(Path(p).read_text(errors="replace").splitlines()[-15:])  # noqa: E731
        raise RuntimeError(f"{exc}\n--- i-PI ({workdir / 'i-pi.log'}):\n{tail(workdir / 'i-pi.log')}\n"
                           f"--- driver ({workdir / 'driver.log'}):\n{tail(workdir / 'driver.log')}") from None
    finally:
        _stop(client)
        _stop(server)
        server_log.close()
        client_log.close()
        shutil.rmtree(sockdir, ignore_errors=True)
    return read_ipi_output(workdir, wall)


def read_ipi_output(workdir, wall_s: float = float("nan")) -> IPIRun:
    """Parse ``simulation.out`` (step, time, conserved, temperature, potential) and ``simulation.pos_0.extxyz``.

    The trajectory is written in i-PI's "ase" format (extxyz, positions to 1e-8 Å, the full cell): its plain
    xyz prints positions with 6 significant digits (1e-5 Å), which alone moves a water energy by ~1e-5 eV.
    """
    import ase.io

    workdir = Path(workdir)
    table = np.atleast_2d(np.loadtxt(workdir / "simulation.out", comments="#"))
    frames = ase.io.read(workdir / "simulation.pos_0.extxyz", index=":", format="extxyz")
    return IPIRun(steps=table[:, 0].astype(int), potential=table[:, 4], conserved=table[:, 2],
                  positions=np.asarray([f.positions for f in frames], dtype=np.float64),
                  cell=np.asarray(frames[0].cell.array, dtype=np.float64), wall_s=wall_s)
