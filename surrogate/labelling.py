"""Label frames with a named reference (energies, forces, stress) in parallel on Dask, exactly once each.

:func:`label_frames` sends one task per frame to a Dask cluster (an embedded
``LocalCluster`` by default, or ``--scheduler ADDRESS``; see
:mod:`surrogate.dask_cluster`). Each task builds the reference by name
(:func:`surrogate.reference.make_reference`) inside the worker.

Exactly once, in order, crash-safe:

* a finished frame is written at once, atomically, to its own shard
  ``OUT.parts/NNNNNNN-HASH.extxyz`` (index and a fingerprint of the input
  frame in the name), so nothing computed is lost when the run dies;
* a worker killed mid-task loses only its task, which the scheduler reruns on
  another worker (``retries`` covers exceptions; a dead worker's tasks are
  rescheduled by Dask); a task that ran twice rewrites the same shard with the
  same content, so no frame is duplicated;
* the output ``OUT`` (extxyz) is assembled atomically from the shards in frame
  order once all exist; a rerun skips every frame whose shard exists for the
  same input (a changed frame has another fingerprint and is labelled again).
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np

from systems.atomic_file import atomic_write, atomic_write_text
from systems.errors import InputError

from .dask_cluster import dask_client, set_worker_threads, worker_threads

def frame_fingerprint(atoms) -> str:
    """SHA-1 (hex) of a frame's atomic numbers, positions (Å), cell (Å) and periodicity."""
    h = hashlib.sha1()
    for array in (atoms.numbers.astype(np.int64), atoms.positions.astype(np.float64),
                  np.asarray(atoms.cell, dtype=np.float64), atoms.pbc.astype(np.int8)):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def shard_dir(out_path) -> Path:
    """The folder of per-frame shards that belongs to ``out_path``."""
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".parts")


def shard_path(out_path, index: int, fingerprint: str) -> Path:
    """The shard of frame ``index`` with input fingerprint ``fingerprint``."""
    return shard_dir(out_path) / f"{index:07d}-{fingerprint[:16]}.extxyz"


def _calculator(reference: str, calculator_args):
    """A fresh reference calculator for one frame.

    Not reused across frames: a calculator that keeps state (EMT's neighbor list, an SCF guess) gives
    results that differ in the last bits with the frames it saw before, and the label of a frame must
    not depend on which worker did which frames first (a retried task must rewrite the same bytes).
    Building one costs far less than a reference call.
    """
    from .reference import make_reference

    return make_reference(reference, calculator_args).calculator


def label_one(index: int, atoms, reference: str, calculator_args, shard: str, threads: int) -> int:
    """Dask task: label ``atoms`` with the reference and write its shard atomically; returns ``index``.

    The shard is extxyz in full float64 precision (:mod:`systems.trajectory_writer`'s writer; ASE's own
    rounds positions to 8 decimals, which would move the labelled frame away from where it was computed),
    with ``frame_index`` in the comment line.
    """
    from systems.forces import ForceResult
    from systems.frame import Frame
    from systems.trajectory_writer import _extxyz_text

    set_worker_threads(threads)
    calc = _calculator(reference, calculator_args)
    work = atoms.copy()
    work.calc = calc
    energy = float(work.get_potential_energy())  # eV
    forces = np.array(work.get_forces(), dtype=np.float64)  # [n, 3] eV/Å
    stress = None
    if work.pbc.all() and "stress" in getattr(calc, "implemented_properties", ()):
        stress = np.array(work.get_stress(voigt=False), dtype=np.float64)  # [3, 3] eV/Å³
    cell = np.array(atoms.cell, dtype=np.float64)
    frame = Frame(numbers=atoms.numbers.astype(np.int64), positions=atoms.positions.astype(np.float64),
                  cell=cell if cell.any() else None, pbc=atoms.pbc.copy(), time=None, index=int(index),
                  energy=energy, forces=forces, masses=atoms.get_masses().astype(np.float64), stress=stress)
    count, header, body = _extxyz_text(frame, ForceResult(energy, forces, stress)).split("\n", 2)
    atomic_write_text(shard, f"{count}\n{header} frame_index={int(index)}\n{body}")
    return int(index)


def _read_frames(frames) -> list:
    if isinstance(frames, (str, Path)):
        from ase.io import read

        path = Path(frames)
        if not path.is_file():
            raise InputError(f"label_frames: no frames file {path}")
        return list(read(path, index=":"))
    frames = list(frames)
    for k, atoms in enumerate(frames):
        if not hasattr(atoms, "get_positions") or not hasattr(atoms, "numbers"):
            raise InputError(f"label_frames: frame {k} is a {type(atoms).__name__}, not an ase.Atoms")
    return frames


def label_frames(frames, reference: str, out_path, *, calculator_args=None, scheduler=None,
                 n_workers: int | None = None, threads_per_worker: int = 1, threads: int | None = None,
                 retries: int = 3) -> Path:
    """Label ``frames`` with reference ``reference`` into the extxyz file ``out_path``; returns its path.

    frames : sequence of ase.Atoms, or a path ASE can read (every frame).
    reference : a name of :mod:`surrogate.reference` (xtb, gfn1, emt, ase:module:Class);
        ``calculator_args`` its keyword arguments (YAML text or dict).
    scheduler : None (an embedded LocalCluster of ``n_workers`` processes with ``threads_per_worker`` Dask
        threads each), a scheduler address, or a ``distributed.Client``.
    threads : OpenMP/torch threads per worker (default: the usable CPUs shared among the local workers;
        1 per worker for a remote or given cluster unless set).
    retries : reruns of a task that raised (a worker that died has its tasks rescheduled anyway).

    Every frame appears once, in input order, with ``energy`` (eV), ``forces`` [n, 3] (eV/Å), ``stress``
    (eV/Å³, fully periodic frames when the reference has it) and ``info['frame_index']``.
    """
    from .reference import check_elements, make_reference

    frames = _read_frames(frames)
    out_path = Path(out_path)
    if not frames:
        raise InputError("label_frames: no frames to label")
    make_reference(reference, calculator_args)  # a bad name or argument fails here, before any cluster starts
    for atoms in frames:
        check_elements(reference, atoms.numbers)
    shards = [shard_path(out_path, k, frame_fingerprint(atoms)) for k, atoms in enumerate(frames)]
    pending = [k for k, shard in enumerate(shards) if not shard.is_file()]
    if pending:
        shard_dir(out_path).mkdir(parents=True, exist_ok=True)
        if scheduler is None and n_workers is None:
            from .threads import usable_cpus

            n_workers = usable_cpus()
        per_worker = worker_threads(n_workers, threads) if scheduler is None else (threads or 1)
        call = uuid.uuid4().hex[:8]  # task keys unique to this call: a shared client may still hold old ones
        with dask_client(scheduler, n_workers, threads_per_worker) as client:
            from distributed import as_completed

            futures = [client.submit(label_one, k, frames[k], reference, calculator_args, str(shards[k]), per_worker,
                                     key=f"label-{call}-{shards[k].stem}", retries=int(retries), pure=False)
                       for k in pending]
            try:
                for future in as_completed(futures):
                    future.result()  # re-raises a task's final error; the frames done so far keep their shards
            except BaseException:
                client.cancel(futures)
                raise
    _assemble(shards, out_path)
    return out_path


def _assemble(shards: list[Path], out_path: Path) -> None:
    """Concatenate the shards in frame order into ``out_path``, atomically."""
    missing = [str(s) for s in shards if not s.is_file()]
    if missing:
        raise RuntimeError(f"label_frames: {len(missing)} frames have no label (first: {missing[0]})")

    def write(fh):
        for shard in shards:
            fh.write(shard.read_bytes())

    out_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_path, write)
    # a worker killed while writing a shard leaves its temporary file (the task was rerun elsewhere)
    for stale in shard_dir(out_path).glob(".*.tmp"):
        stale.unlink(missing_ok=True)
