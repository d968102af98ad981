"""Damaged and mislabelled trajectory files: a named InputError or a correct read, never another exception.

Hypothesis mutates the bytes of a real extxyz file (written by our writer) and
of a real XTC file (the first frames of the shared alanine-dipeptide run) by
flipping a bit, overwriting, inserting or deleting bytes, or cutting the file,
and checks that every frame lying wholly before the first changed byte comes
back exactly, and that anything going wrong after it is an :class:`InputError`
or the documented :class:`TruncatedTrajectoryWarning`. Seeded (derandomized),
with a bounded number of examples.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System
from systems.trajectory_reader import TruncatedTrajectoryWarning, count_frames, read_frames
from systems.trajectory_writer import TrajectoryWriter

from tests.shared_data import DATA

XTC = DATA / "frame0.xtc"
PDB = str(DATA / "native.pdb")
N_XTC_FRAMES = 6
FUZZ = settings(max_examples=200, deadline=5000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- inputs
def _extxyz_bytes() -> tuple:
    """4 frames of 3 atoms with cell, time, velocities, energy and forces; (bytes, frame end offsets)."""
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ref.extxyz")
        system = System([18, 18, 29], [39.948, 39.948, 63.546], rng.uniform(0, 8, (3, 3)), cell=np.eye(3) * 8.0,
                        velocities=rng.normal(size=(3, 3)) * 0.01)
        with TrajectoryWriter(path) as writer:
            for step in range(4):
                system.positions = system.positions + rng.normal(size=(3, 3)) * 0.1
                system.time = step * 10.0
                writer.write(system, ForceResult(energy=float(rng.normal()), forces=rng.normal(size=(3, 3))))
        data = Path(path).read_bytes()
    lines = data.splitlines(keepends=True)
    ends, pos, i = [], 0, 0
    while i < len(lines):
        n_lines = int(lines[i]) + 2
        pos += sum(len(line) for line in lines[i: i + n_lines])
        ends.append(pos)
        i += n_lines
    return data, ends


def _xtc_bytes() -> tuple:
    """The first N_XTC_FRAMES frames of frame0.xtc (22 atoms, compressed); (bytes, frame end offsets)."""
    from systems.trajectory_reader import _scan_xtc

    scan = _scan_xtc(str(XTC), limit=N_XTC_FRAMES + 1)
    ends = [int(o) for o in scan.offsets[1: N_XTC_FRAMES + 1]]
    return XTC.read_bytes()[: ends[-1]], ends


EXTXYZ, EXTXYZ_ENDS = _extxyz_bytes()
XTC_DATA, XTC_ENDS = _xtc_bytes() if XTC.exists() else (b"", [])


class Hang(Exception):
    """A read of a 3 kB file still running after HANG_S seconds."""


HANG_S = 60  # a generous bound: a correct read takes milliseconds; only a loop without end reaches it


@contextlib.contextmanager
def _no_hang():
    """Raise :class:`Hang` in the main thread if the block runs past HANG_S seconds (SIGALRM)."""
    def alarm(signum, frame):
        raise Hang(f"still reading after {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _read_all(path, top=None) -> tuple:
    """(frames read, the InputError or None, warnings issued) for ``path``; any other exception propagates."""
    frames, error = [], None
    with warnings.catch_warnings(record=True) as caught, _no_hang():
        warnings.simplefilter("always")
        try:
            for frame in read_frames(path, top):
                frames.append(frame)
        except InputError as err:
            error = err
    return frames, error, list(caught)


def _mutate(data: bytes, kind: str, pos: int, value: int, length: int) -> tuple:
    """(mutated bytes, offset of the first byte that differs from ``data``); ``pos`` in 1/65536 of the length."""
    pos = pos * len(data) // 65536
    if kind == "flip":
        return data[:pos] + bytes([data[pos] ^ (1 << (value % 8))]) + data[pos + 1:], pos
    if kind == "overwrite":
        return data[:pos] + bytes([value]) * length + data[pos + length:], pos
    if kind == "insert":
        return data[:pos] + bytes([value]) * length + data[pos:], pos
    if kind == "delete":
        return data[:pos] + data[pos + length:], pos
    return data[:pos], pos  # truncate


MUTATIONS = st.tuples(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate"]),
                      st.integers(0, 65535), st.integers(0, 255), st.integers(1, 24))


@functools.cache
def _originals(kind: str) -> list:
    """The frames of the unmutated file (for xtc this also compiles the Numba decoder once, outside the deadline)."""
    data, top = (EXTXYZ, None) if kind == "extxyz" else (XTC_DATA, PDB)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"ref.{kind}"
        path.write_bytes(data)
        frames = list(read_frames(path, top))
    assert len(frames) == len(EXTXYZ_ENDS if kind == "extxyz" else XTC_ENDS)
    return frames


def _same_frame(a, b) -> bool:
    return (a.index == b.index and np.array_equal(a.numbers, b.numbers) and np.array_equal(a.positions, b.positions)
            and (a.cell is None) == (b.cell is None) and (a.cell is None or np.array_equal(a.cell, b.cell))
            and a.time == b.time and a.energy == b.energy
            and all((getattr(a, k) is None) == (getattr(b, k) is None)
                    and (getattr(a, k) is None or np.array_equal(getattr(a, k), getattr(b, k)))
                    for k in ("velocities", "forces", "masses")))


def _check_mutated(path, top, originals, ends, mutation, data) -> None:
    mutated, first_changed = _mutate(data, *mutation)
    path.write_bytes(mutated)
    intact = sum(1 for end in ends if end <= first_changed)  # frames wholly before the first changed byte
    frames, error, caught = _read_all(path, top)
    unexpected = [w for w in caught if not issubclass(w.category, TruncatedTrajectoryWarning)]
    assert not unexpected, [str(w.message) for w in unexpected]
    for frame, original in zip(frames[:intact], originals[:intact]):
        assert _same_frame(frame, original), f"frame {frame.index} before the damage at byte {first_changed} differs"
    assert len(frames) <= len(originals) + 1
    if error is not None:
        assert str(path) in str(error)
    for w in caught:
        assert str(path) in str(w.message)
    if mutation[0] == "truncate":
        # a cut file gives exactly its complete frames: a partial frame is never passed off as whole
        assert len(frames) == intact or (error is not None and len(frames) < intact)
        assert error is not None or bool(caught) == (first_changed not in ends)
    try:
        with _no_hang():
            n = count_frames(path, top)
    except InputError as err:
        assert str(path) in str(err)
    else:
        assert n >= min(len(frames), intact)
        if error is None and not caught:
            assert n == len(frames)  # an intact-looking read and the cheap count agree


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    _originals("extxyz")
    if XTC_DATA:
        _originals("xtc")  # the Numba decoder is loaded before any example runs under the deadline
    return tmp_path_factory.mktemp("fuzz")


def test_unmutated_files_read_whole():
    assert [f.index for f in _originals("extxyz")] == [0, 1, 2, 3]
    assert _originals("extxyz")[3].time == 30.0 and _originals("extxyz")[0].forces.shape == (3, 3)
    if XTC_DATA:
        assert [f.index for f in _originals("xtc")] == list(range(N_XTC_FRAMES))


@FUZZ
@given(mutation=MUTATIONS)
def test_mutated_extxyz_reads_its_intact_frames_or_raises_input_error(fuzz_dir, mutation):
    _check_mutated(fuzz_dir / "fuzz.extxyz", None, _originals("extxyz"), EXTXYZ_ENDS, mutation, EXTXYZ)


@pytest.mark.skipif(not XTC.exists(), reason="tests.shared_data: frame0.xtc not found")
@FUZZ
@given(mutation=MUTATIONS)
def test_mutated_xtc_reads_its_intact_frames_or_raises_input_error(fuzz_dir, mutation):
    _check_mutated(fuzz_dir / "fuzz.xtc", PDB, _originals("xtc"), XTC_ENDS, mutation, XTC_DATA)
