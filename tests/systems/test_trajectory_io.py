"""Trajectory I/O: parity with MDTraj and ASE on real files, round trips, damaged files, kill safety."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import ase.io
import mdtraj
import numpy as np
import pytest

from systems.trajectory_io import formats as trajectory_formats
from systems.errors import InputError
from systems.forces import ForceResult
from systems.frame import Frame
from systems.state import System, topology_from_numbers
from systems.trajectory_reader import (
    TruncatedTrajectoryWarning,
    count_frames,
    detect_format,
    read_frames,
    read_systems,
)
from systems.trajectory_writer import TrajectoryWriter
from systems.units import TIME_PER_PS, fs

from tests.shared_data import DATA  # noqa: E402
XTC = str(DATA / "frame0.xtc")
PDB = str(DATA / "native.pdb")
ASE_TESTDATA = Path(ase.__file__).parent / "test" / "testdata"
CASTEP_MD = ASE_TESTDATA / "castep" / "md.castep"
AIMS_MD = ASE_TESTDATA / "aims" / "md.out"

# float32 nm -> float64 Å: relative error of float32 rounding (positions up to ~30 Å)
F32_ATOL = 1e-5
# XTC stores positions to 0.001 nm: at most half a step off
XTC_ATOL = 0.5 * 0.001 * 10 + 1e-6

pytestmark = pytest.mark.filterwarnings("ignore:.*netCDF4.*")


@pytest.fixture(scope="module")
def reference():
    """frame0.xtc loaded whole by MDTraj (the reference for streaming)."""
    return mdtraj.load(XTC, top=PDB)


def _positions(frames):
    return np.array([f.positions for f in frames])


# ---------------------------------------------------------------------------- real data, MDTraj parity
def test_xtc_matches_mdtraj_load(reference):
    frames = list(read_frames(XTC, PDB))
    assert len(frames) == 501 == reference.n_frames
    assert all(f.n_atoms == 22 for f in frames)
    assert [f.index for f in frames] == list(range(501))
    np.testing.assert_array_equal(_positions(frames), reference.xyz.astype(np.float64) * 10.0)
    cells = np.array([f.cell for f in frames])
    np.testing.assert_allclose(cells, reference.unitcell_vectors.astype(np.float64) * 10.0, rtol=0, atol=F32_ATOL)
    assert np.linalg.norm(frames[0].cell[0]) == pytest.approx(25.733, abs=1e-3)
    assert all(f.pbc.all() for f in frames)
    times = np.array([f.time for f in frames])
    np.testing.assert_allclose(times, reference.time.astype(np.float64) * TIME_PER_PS, rtol=1e-12)
    # 1 ps of MD between frames, in ASE time units
    assert (times[1] - times[0]) / (1000.0 * fs) == pytest.approx(reference.time[1] - reference.time[0], rel=1e-6)
    expected_numbers = [a.element.atomic_number for a in reference.topology.atoms]
    assert frames[0].numbers.tolist() == expected_numbers
    assert frames[0].energy is None and frames[0].forces is None and frames[0].velocities is None


def _water_like_xtc(path, n_molecules=300, n_frames=5, scale_nm=1.0, seed=0):
    """O-H-H triplets (atoms 0.1 nm apart: the XTC run-length path) in a box, written by MDTraj."""
    rng = np.random.default_rng(seed)
    oxygen = rng.uniform(0, 3.0 * scale_nm, size=(n_frames, n_molecules, 1, 3))
    hydrogens = oxygen + rng.normal(scale=0.06, size=(n_frames, n_molecules, 2, 3))
    xyz = np.concatenate([oxygen, hydrogens], axis=2).reshape(n_frames, -1, 3).astype(np.float32)
    box = np.repeat((np.eye(3) * 3.0 * scale_nm)[None], n_frames, axis=0).astype(np.float32)
    with mdtraj.formats.XTCTrajectoryFile(str(path), "w") as fh:
        fh.write(xyz, time=np.arange(n_frames, dtype=np.float32) * 0.5, box=box)
    return topology_from_numbers([8, 1, 1] * n_molecules)


@pytest.mark.parametrize("scale_nm", [1.0, 1.0e4])  # 1e4 nm: coordinate ranges beyond 2^24 (the other code path)
def test_xtc_decoder_is_bit_identical_to_mdtraj(tmp_path, scale_nm):
    path = tmp_path / "water.xtc"
    top = _water_like_xtc(path, scale_nm=scale_nm)
    with mdtraj.formats.XTCTrajectoryFile(str(path)) as fh:
        xyz, time, _, box = fh.read()
    frames = list(read_frames(path, top))
    assert len(frames) == len(xyz)
    np.testing.assert_array_equal(_positions(frames), xyz.astype(np.float64) * 10.0)
    np.testing.assert_array_equal([f.cell for f in frames], box.astype(np.float64) * 10.0)
    np.testing.assert_array_equal([f.time for f in frames], time.astype(np.float64) * TIME_PER_PS)


@pytest.mark.parametrize("start,stop,stride", [(0, None, 1), (3, 100, 7), (250, 260, 1), (0, 501, 50), (490, None, 4)])
def test_xtc_slices_match_mdtraj(reference, start, stop, stride):
    frames = list(read_frames(XTC, PDB, start=start, stop=stop, stride=stride))
    ref = reference[start:stop:stride]
    assert [f.index for f in frames] == list(range(501))[start:stop:stride]
    np.testing.assert_allclose(_positions(frames), ref.xyz * 10.0, rtol=0, atol=F32_ATOL)


def test_small_chunks_equal_whole_load(reference, tmp_path, monkeypatch):
    """Chunk boundaries do not change anything: 7-frame chunks for xtc, dcd and nc equal MDTraj's whole load."""
    monkeypatch.setattr(trajectory_formats, "CHUNK_FRAMES", 7)  # every reader chunks by this
    sub = reference[:40]
    sub.save_dcd(str(tmp_path / "a.dcd"))
    sub.save_netcdf(str(tmp_path / "a.nc"))
    for path in (XTC, tmp_path / "a.dcd", tmp_path / "a.nc"):
        frames = list(read_frames(path, PDB, start=2, stop=33, stride=3))
        np.testing.assert_allclose(_positions(frames), reference.xyz[2:33:3] * 10.0, rtol=0, atol=F32_ATOL)
        assert [f.index for f in frames] == list(range(2, 33, 3))
    nc = list(read_frames(tmp_path / "a.nc", PDB))
    np.testing.assert_allclose([f.time for f in nc], sub.time * TIME_PER_PS, rtol=1e-6)
    assert all(f.time is None for f in read_frames(tmp_path / "a.dcd", PDB, stop=3))  # DCD stores no time


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_count_frames():
    assert count_frames(XTC) == 501
    assert count_frames(PDB) == 1
    assert count_frames(CASTEP_MD) == len(ase.io.read(CASTEP_MD, index=":"))


def test_text_formats_pdb_gro_lammps(reference, tmp_path):
    sub = reference[:4]
    sub.save_gro(str(tmp_path / "a.gro"))
    sub.save_lammpstrj(str(tmp_path / "a.lammpstrj"))
    shutil.copy(tmp_path / "a.lammpstrj", tmp_path / "a.dump")
    for name, top in (("a.gro", None), ("a.lammpstrj", PDB), ("a.dump", PDB)):
        frames = list(read_frames(tmp_path / name, top))
        assert len(frames) == 4, name
        np.testing.assert_allclose(_positions(frames), sub.xyz * 10.0, rtol=0, atol=2e-2)  # text: 3 decimals
    pdb = list(read_frames(PDB))
    np.testing.assert_allclose(pdb[0].positions, mdtraj.load(PDB).xyz[0] * 10.0, atol=F32_ATOL)
    assert detect_format(tmp_path / "a.dump") == ("mdtraj", "lammpstrj")


# ---------------------------------------------------------------------------- real data, ASE parity
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path,ase_format", [(CASTEP_MD, "castep-castep"), (AIMS_MD, "aims-output")])
def test_ase_md_outputs_match_ase_read(path, ase_format):
    assert path.exists(), f"ASE test data missing: {path}"
    assert detect_format(path) == ("ase", ase_format)
    frames = list(read_frames(path))
    images = ase.io.read(path, index=":", format=ase_format)
    assert len(frames) == len(images) >= 3
    for frame, atoms in zip(frames, images):
        assert frame.energy == atoms.get_potential_energy()
        np.testing.assert_array_equal(frame.forces, atoms.get_forces())
        np.testing.assert_array_equal(frame.positions, atoms.positions)
        np.testing.assert_array_equal(frame.numbers, atoms.numbers)
        if atoms.has("momenta"):
            np.testing.assert_array_equal(frame.velocities, atoms.get_velocities())
    # the energies differ from frame to frame: real MD, not a repeated frame
    assert len({f.energy for f in frames}) == len(frames)
    if ase_format == "aims-output":
        assert frames[1].velocities is not None and np.abs(frames[1].velocities).max() > 0
    strided = list(read_frames(path, start=1, stride=2))
    assert [f.energy for f in strided] == [a.get_potential_energy() for a in images[1::2]]


# ---------------------------------------------------------------------------- round trips
def _md_like_states(reference, n_frames=4, seed=0):
    """Alanine-dipeptide frames (22 atoms, real box) with seeded velocities and forces."""
    rng = np.random.default_rng(seed)
    numbers = [a.element.atomic_number for a in reference.topology.atoms]
    states = []
    for k in range(n_frames):
        system = System.from_mdtraj(reference, frame=10 * k)
        system = System(numbers, system.masses, system.positions, rng.normal(scale=0.05, size=(22, 3)),
                        system.cell, system.pbc, time=(k * 2.5 + 0.1) * fs)
        result = ForceResult(energy=float(-100.0 + rng.normal()), forces=rng.normal(size=(22, 3)))
        states.append((system, result))
    return states


def _write(path, states, **kw):
    with TrajectoryWriter(path, **kw) as writer:
        for system, result in states:
            writer.write(system, result)
        assert writer.n_written == len(states)


@pytest.mark.parametrize("ext", ["extxyz", "traj"])
def test_ase_round_trip_is_exact(reference, tmp_path, ext):
    states = _md_like_states(reference)
    path = tmp_path / f"out.{ext}"
    _write(path, states)
    frames = list(read_frames(path))
    assert len(frames) == len(states)
    for frame, (system, result) in zip(frames, states):
        np.testing.assert_allclose(frame.positions, system.positions, rtol=0, atol=1e-10)
        np.testing.assert_allclose(frame.velocities, system.velocities, rtol=0, atol=1e-10)
        np.testing.assert_allclose(frame.forces, result.forces, rtol=0, atol=1e-10)
        np.testing.assert_allclose(frame.cell, system.cell, rtol=0, atol=1e-10)
        np.testing.assert_allclose(frame.masses, system.masses, rtol=0, atol=1e-12)
        assert frame.energy == pytest.approx(result.energy, abs=1e-10)
        assert frame.time == pytest.approx(system.time, abs=1e-12)
        back = frame.to_system()
        assert back.kinetic_energy() == pytest.approx(system.kinetic_energy(), rel=1e-12)
    # ASE's own reader agrees
    images = ase.io.read(path, index=":")
    assert len(images) == len(states)
    for atoms, (system, result) in zip(images, states):
        assert atoms.get_potential_energy() == pytest.approx(result.energy, abs=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), result.forces, atol=1e-10)
        np.testing.assert_allclose(atoms.get_velocities(), system.velocities, atol=1e-10)


@pytest.mark.parametrize("ext,atol,has_time,has_vf", [
    ("xtc", XTC_ATOL, True, False),
    ("trr", F32_ATOL, True, True),
    ("dcd", F32_ATOL, False, False),
    ("nc", F32_ATOL, True, False),
    ("h5", F32_ATOL, True, False),  # PyTables is a dependency (pyproject, constraints.txt): never skipped
    ("pdb", 1e-3, False, False),
])
def test_mdtraj_round_trip(reference, tmp_path, ext, atol, has_time, has_vf):
    states = _md_like_states(reference)
    path = str(tmp_path / f"out.{ext}")
    _write(path, states, topology=reference.topology)
    top = None if ext in ("pdb", "h5") else PDB
    frames = list(read_frames(path, top))
    assert len(frames) == len(states)
    expected = np.array([s.positions for s, _ in states])
    np.testing.assert_allclose(_positions(frames), expected, rtol=0, atol=atol)
    cell_atol = 5e-3 if ext == "pdb" else max(atol, 1e-3)  # CRYST1 keeps angles to 0.01°
    if ext == "h5":  # the file carries its own topology
        assert [f.numbers.tolist() for f in frames[:1]] == [[a.element.atomic_number for a in reference.topology.atoms]]
    np.testing.assert_allclose([f.cell for f in frames], [s.cell for s, _ in states], rtol=0, atol=cell_atol)
    if has_time:
        np.testing.assert_allclose([f.time for f in frames], [s.time for s, _ in states], rtol=1e-6)
    if has_vf:  # TRR keeps velocities (nm/ps) and forces (kJ/mol/nm) in float32
        for frame, (system, result) in zip(frames, states):
            np.testing.assert_allclose(frame.velocities, system.velocities, rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(frame.forces, result.forces, rtol=1e-6, atol=1e-6)
    # MDTraj's own loader opens what we wrote, in its units
    loaded = mdtraj.load(path, top=top) if top else mdtraj.load(path)
    assert loaded.n_frames == len(states)
    np.testing.assert_allclose(loaded.xyz * 10.0, expected, rtol=0, atol=atol)


def test_writer_without_cell_and_numbers_only(tmp_path):
    """A molecule in vacuum: no box in, no box out; topology built from atomic numbers."""
    rng = np.random.default_rng(1)
    system = System([6, 1, 1, 1, 1], [12.011, 1.008, 1.008, 1.008, 1.008], rng.normal(size=(5, 3)) * 2 + 10)
    for ext in ("xtc", "dcd", "extxyz"):
        path = tmp_path / f"mol.{ext}"
        with TrajectoryWriter(path, numbers=system.numbers) as writer:
            writer.write(system)
            writer.write(system)
        frames = list(read_frames(path, topology_from_numbers(system.numbers)))
        assert len(frames) == 2 and frames[0].cell is None and not frames[0].pbc.any(), ext
        assert frames[0].numbers.tolist() == [6, 1, 1, 1, 1]
        np.testing.assert_allclose(frames[1].positions, system.positions, atol=XTC_ATOL)


@pytest.mark.parametrize("ext", ["xtc", "trr", "extxyz", "traj"])
def test_append_continues_file(reference, tmp_path, ext):
    states = _md_like_states(reference, n_frames=5)
    path = tmp_path / f"out.{ext}"
    _write(path, states[:3], topology=reference.topology)
    _write(path, states[3:], topology=reference.topology, append=True)
    frames = list(read_frames(path, PDB))
    assert len(frames) == 5
    np.testing.assert_allclose(_positions(frames), [s.positions for s, _ in states], atol=XTC_ATOL)


def test_frame_system_round_trip(reference):
    system, result = _md_like_states(reference, n_frames=1)[0]
    frame = Frame.from_system(system, result, index=7)
    back = frame.to_system()
    np.testing.assert_array_equal(back.positions, system.positions)
    np.testing.assert_array_equal(back.velocities, system.velocities)
    np.testing.assert_array_equal(back.masses, system.masses)
    assert back.info["frame"] == 7 and back.info["energy"] == result.energy
    # without masses or velocities in the file: ASE's atomic masses and zero velocities
    bare = Frame(frame.numbers, frame.positions, frame.cell, frame.pbc, None, 0)
    from ase.data import atomic_masses

    system2 = bare.to_system()
    np.testing.assert_array_equal(system2.masses, atomic_masses[frame.numbers])
    assert not system2.velocities.any() and system2.time == 0.0
    systems = list(read_systems(XTC, PDB, stop=2))
    assert len(systems) == 2 and systems[1].time == pytest.approx(reference.time[1] * TIME_PER_PS)


# ---------------------------------------------------------------------------- bad input
def test_missing_file_and_topology(tmp_path):
    with pytest.raises(InputError, match="nothere.xtc.*does not exist"):
        list(read_frames(tmp_path / "nothere.xtc", PDB))
    with pytest.raises(InputError, match=r"frame0.xtc.*top="):
        list(read_frames(XTC))
    with pytest.raises(InputError, match="nope.pdb.*does not exist"):
        list(read_frames(XTC, tmp_path / "nope.pdb"))
    with pytest.raises(InputError, match="frame0.xtc.*22 atoms.*10"):
        list(read_frames(XTC, topology_from_numbers([1] * 10)))
    with pytest.raises(InputError, match="frame0.xtc.*22 atoms.*10"):
        count_frames(XTC) and list(read_frames(XTC, mdtraj.load(PDB).atom_slice(range(10))))


def test_unknown_format(tmp_path):
    with pytest.raises(InputError, match=r"x\.qqq.*unknown trajectory extension"):
        list(read_frames(tmp_path / "x.qqq"))
    junk = tmp_path / "junk.qqq"
    junk.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(InputError, match="junk.qqq"):
        list(read_frames(junk))
    with pytest.raises(InputError, match="unknown trajectory format 'nonsense'"):
        detect_format(XTC, format="nonsense")


def test_truncated_xtc_yields_complete_frames_then_warns(reference, tmp_path):
    path = tmp_path / "cut.xtc"
    data = Path(XTC).read_bytes()
    path.write_bytes(data[: len(data) // 2 + 37])  # cut inside frame 250
    with pytest.warns(TruncatedTrajectoryWarning, match=r"cut.xtc.*250 complete frames"):
        frames = list(read_frames(path, PDB))
    assert len(frames) == 250
    np.testing.assert_allclose(_positions(frames), reference.xyz[:250] * 10.0, atol=F32_ATOL)
    assert count_frames(path) == 250


def test_garbage_and_damaged_xtc_raise(tmp_path):
    garbage = tmp_path / "garbage.xtc"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputError, match=r"garbage.xtc is not an XTC file: .*XDR magic number 1995"):
        list(read_frames(garbage, PDB))
    # 200 random bytes over the middle of a copy (destroys frame headers): MDTraj alone segfaults here
    data = bytearray(Path(XTC).read_bytes())
    middle = len(data) // 2
    data[middle: middle + 200] = np.random.default_rng(1).bytes(200)
    damaged = tmp_path / "damaged.xtc"
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"damaged.xtc.*XTC frame 250 at byte \d+ is corrupt"):
        list(read_frames(damaged, PDB))
    # damaged compressed coordinates with intact headers (MDTraj's decoder corrupts its heap on these):
    # the frames before come through, then the damaged frame is named
    from systems.trajectory_reader import _scan_xtc

    data = Path(XTC).read_bytes()
    start = int(_scan_xtc(XTC).offsets[100]) + 92
    n_bytes = int.from_bytes(data[start - 4: start], "big")
    for fill, reason in ((b"\xaa", "run of atoms goes past the atom count"),
                         (b"\x00", "do not fill their byte count"), (b"\xff", "do not fill their byte count")):
        bitstream = tmp_path / "bitstream.xtc"
        bitstream.write_bytes(data[:start] + fill * n_bytes + data[start + n_bytes:])
        frames = read_frames(bitstream, PDB)
        assert len([next(frames) for _ in range(100)]) == 100
        with pytest.raises(InputError, match=rf"bitstream.xtc: XTC frame 100 at byte {start - 92} .*{reason}"):
            next(frames)
    empty = tmp_path / "empty.xtc"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty.xtc"):
        list(read_frames(empty, PDB))


def test_truncated_binary_and_text_files_warn(reference, tmp_path):
    reference[:20].save_dcd(str(tmp_path / "a.dcd"))
    reference[:20].save_trr(str(tmp_path / "a.trr"))
    _write(tmp_path / "a.extxyz", _md_like_states(reference, n_frames=5))
    # complete frames in the first 73 %: dcd 276-byte header + 344 B/frame, trr 384 B/frame
    for name, n_complete in (("a.dcd", 14), ("a.trr", 14), ("a.extxyz", 3)):
        data = (tmp_path / name).read_bytes()
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(data[: int(len(data) * 0.73)])
        with pytest.warns(TruncatedTrajectoryWarning, match=f"cut_{name}.*{n_complete} complete frames"):
            frames = list(read_frames(cut, PDB))
        assert len(frames) == n_complete, name
        if name != "a.extxyz":
            np.testing.assert_allclose(_positions(frames), reference.xyz[:n_complete] * 10.0, atol=F32_ATOL)
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"CDF\x01" + np.random.default_rng(2).bytes(500))
    with pytest.raises(InputError, match="bad.nc"):
        list(read_frames(bad, PDB))


def test_nan_coordinates_name_frame_and_atom(tmp_path):
    xyz = np.random.default_rng(0).uniform(0, 10, size=(3, 22, 3)).astype(np.float32)
    xyz[1, 5, 2] = np.nan
    from mdtraj.formats import DCDTrajectoryFile

    with DCDTrajectoryFile(str(tmp_path / "nan.dcd"), "w") as fh:
        fh.write(xyz)
    with pytest.raises(InputError, match=r"nan.dcd: frame 1: positions of atom 5 are not finite"):
        list(read_frames(tmp_path / "nan.dcd", PDB))
    from ase import Atoms

    images = [Atoms("H3", positions=np.zeros((3, 3))), Atoms("H3", positions=[[0, 0, 0], [0, 0, 1], [np.inf, 0, 0]])]
    ase.io.write(tmp_path / "inf.extxyz", images)
    with pytest.raises(InputError, match=r"inf.extxyz: frame 1: positions of atom 2"):
        list(read_frames(tmp_path / "inf.extxyz"))


def test_writer_refuses_bad_requests(reference, tmp_path):
    states = _md_like_states(reference, n_frames=2)
    path = tmp_path / "exists.xtc"
    _write(path, states)
    size = path.stat().st_size
    with pytest.raises(InputError, match="exists.xtc already exists"):
        TrajectoryWriter(path, overwrite=False)
    assert path.stat().st_size == size
    with pytest.raises(InputError, match="cannot write"):
        TrajectoryWriter(tmp_path / "out.gro")
    with pytest.raises(InputError, match="topology has 10 atoms but `numbers` has 22"):
        TrajectoryWriter(tmp_path / "a.pdb", topology=topology_from_numbers([1] * 10), numbers=states[0][0].numbers)
    # a first frame that cannot be written leaves no file behind (no half-written header)
    with pytest.raises(InputError, match="topology has 10 atoms but the system has 22"):
        with TrajectoryWriter(tmp_path / "b.dcd", topology=topology_from_numbers([1] * 10)) as writer:
            writer.write(states[0][0])
    assert not (tmp_path / "b.dcd").exists()
    with TrajectoryWriter(tmp_path / "c.xtc") as writer:
        writer.write(states[0][0])
        smaller = System([1, 1], [1.0, 1.0], np.zeros((2, 3)) + [[0, 0, 0], [0, 0, 1]])
        with pytest.raises(InputError, match="frame 1 has 2 atoms; the file has 22"):
            writer.write(smaller)
    assert count_frames(tmp_path / "c.xtc") == 1


def test_hdf5_without_pytables_is_a_clear_error(tmp_path, monkeypatch):
    """An install without PyTables (a None entry in sys.modules makes `import tables` fail) is told what to install."""
    monkeypatch.setitem(sys.modules, "tables", None)
    with pytest.raises(InputError, match="out.h5.*PyTables"):
        TrajectoryWriter(tmp_path / "out.h5")
    (tmp_path / "in.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(InputError, match="in.h5.*PyTables"):
        list(read_frames(tmp_path / "in.h5"))


# ---------------------------------------------------------------------------- kill safety
_KILL_CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from systems.forces import ForceResult
    from systems.state import System
    from systems.trajectory_writer import TrajectoryWriter

    out = sys.argv[1]
    rng = np.random.default_rng(0)
    numbers = [8, 1, 1] * 5
    masses = [16.0, 1.0, 1.0] * 5
    writers = [TrajectoryWriter(f"{out}/kill.{ext}") for ext in ("xtc", "dcd", "extxyz", "trr", "traj")]
    k = 0
    while True:
        positions = 3.0 + 0.1 * k + rng.uniform(0, 10, size=(15, 3)).round(2)
        system = System(numbers, masses, positions, cell=np.eye(3) * 20.0, pbc=True, time=float(k))
        for writer in writers:
            writer.write(system, ForceResult(float(-k), np.full((15, 3), float(k))))
        print(k, flush=True)
        k += 1
        time.sleep(0.01)
    """
)


def test_killed_writer_leaves_readable_files(tmp_path):
    n_reported = 6
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]) + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        last = -1
        while last < n_reported - 1:
            line = child.stdout.readline()
            assert line, "writer subprocess died before reporting frames"
            last = int(line)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    rng = np.random.default_rng(0)
    expected = [3.0 + 0.1 * k + rng.uniform(0, 10, size=(15, 3)).round(2) for k in range(n_reported)]
    top = topology_from_numbers([8, 1, 1] * 5)
    for ext in ("xtc", "dcd", "extxyz", "trr", "traj"):
        with warnings.catch_warnings():
            # the kill may land inside a frame: complete frames come first, then a warning
            warnings.simplefilter("ignore", TruncatedTrajectoryWarning)
            frames = list(read_frames(tmp_path / f"kill.{ext}", top))
        assert len(frames) >= n_reported, ext
        np.testing.assert_allclose(_positions(frames[:n_reported]), expected, atol=XTC_ATOL, err_msg=ext)
