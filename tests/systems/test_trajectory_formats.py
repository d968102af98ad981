"""Files whose bytes do not match their suffix are refused by name before any reader sees them."""

from __future__ import annotations

import warnings

import mdtraj
import numpy as np
import pytest

from systems.errors import InputError
from systems.trajectory_io.formats import check_content, detect_format
from systems.trajectory_reader import count_frames, load_topology, read_frames

from tests.shared_data import DATA

XTC = DATA / "frame0.xtc"
PDB = DATA / "native.pdb"
needs_data = pytest.mark.skipif(not XTC.exists(), reason="tests.shared_data: frame0.xtc not found")


def _refused(path, match, top=None):
    """read_frames and count_frames both raise InputError matching ``match``."""
    with pytest.raises(InputError, match=match):
        list(read_frames(path, top))
    with pytest.raises(InputError, match=match):
        count_frames(path, top)


def test_directory_is_named_as_a_directory(tmp_path):
    for name in ("run", "run.xtc", "run.extxyz"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "thermo.csv").write_text("step\n")
        _refused(folder, rf"{name} is a directory, not a trajectory file", top=str(PDB))


def test_real_bundle_trajectory_still_reads(tmp_path):
    from ase.build import bulk
    from ase.io.bundletrajectory import BundleTrajectory

    atoms = bulk("Cu", cubic=True)
    bundle = BundleTrajectory(str(tmp_path / "run.bundle"), mode="w")
    bundle.write(atoms)
    bundle.close()
    frames = list(read_frames(tmp_path / "run.bundle", format="bundletrajectory"))
    assert len(frames) == 1
    np.testing.assert_allclose(frames[0].positions, atoms.positions)


def test_text_file_renamed_xtc_is_not_an_xtc(tmp_path):
    path = tmp_path / "notes.xtc"
    path.write_text("these are my notes, not a trajectory\n" * 40)
    _refused(path, r"notes.xtc is not an XTC file: it starts with b'these ar', not the XDR magic number 1995",
             top=str(PDB))


@needs_data
@pytest.mark.parametrize("suffix,message", [
    ("dcd", "is not a DCD file"), ("trr", "is not a TRR file"), ("nc", "is not a NetCDF file"),
    ("h5", "is not an HDF5 file"), ("traj", r"is not an ASE \.traj file"),
    ("pdb", "is not a pdb text file: it holds a NUL byte"), ("extxyz", "is not a extxyz text file: it holds a NUL"),
])
def test_xtc_under_another_suffix_is_named(tmp_path, suffix, message):
    path = tmp_path / f"frames.{suffix}"
    path.write_bytes(XTC.read_bytes())
    _refused(path, rf"frames.{suffix} {message}", top=str(PDB))


def test_empty_files_are_named_empty(tmp_path):
    for suffix in ("pdb", "xtc", "extxyz", "dcd", "gro", "traj"):
        path = tmp_path / f"empty.{suffix}"
        path.write_bytes(b"")
        _refused(path, rf"empty.{suffix} is empty \(0 bytes\)", top=str(PDB))


@needs_data
def test_file_where_the_reader_finds_no_frame_is_named(tmp_path):
    """A PDB saved as .out is sniffed by ASE as espresso output, which finds nothing in it: an error, not 0 frames."""
    path = tmp_path / "log.out"
    path.write_bytes(PDB.read_bytes())
    _refused(path, r"log.out: no frame found in its 1749 bytes read as espresso-out: the content does not match")
    assert list(read_frames(PDB, stop=0)) == []  # an empty slice is not an error


def test_pdb_without_atoms_is_named(tmp_path):
    path = tmp_path / "header_only.pdb"
    path.write_text("REMARK   1 written by hand\nCRYST1   10.000   10.000   10.000  90.00  90.00  90.00 P 1\nEND\n")
    _refused(path, "header_only.pdb is not a usable PDB file: it has no ATOM or HETATM record")


@needs_data
def test_empty_or_atomless_topology_is_named(tmp_path):
    empty = tmp_path / "empty.pdb"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"topology file .*empty.pdb is empty \(0 bytes\).*\(for .*frame0.xtc\)"):
        list(read_frames(XTC, str(empty)))
    with pytest.raises(InputError, match=r"topology file .*empty.pdb is empty"):
        load_topology(empty, XTC)
    folder = tmp_path / "top.pdb"
    folder.mkdir()
    with pytest.raises(InputError, match=r"topology file .*top.pdb is a directory"):
        load_topology(folder, XTC)


@needs_data
def test_real_files_pass_the_content_check():
    for path in (XTC, PDB):
        check_content(str(path), *detect_format(str(path)))
    assert load_topology(PDB, XTC).n_atoms == mdtraj.load_topology(str(PDB)).n_atoms == 22


def test_extxyz_cut_inside_its_last_line_drops_that_frame(tmp_path):
    """Without a final newline the last number may be cut ('1.25' -> '1.2'): that frame is not passed off as whole."""
    frames_text = [f"2\nProperties=species:S:1:pos:R:3\nAr 0 0 {k}.25\nAr 1 1 {k}.25\n" for k in range(3)]
    text = "".join(frames_text)
    path = tmp_path / "cut.extxyz"
    path.write_text(text[:-2])
    with pytest.warns(UserWarning, match=r"cut.extxyz: reading stopped at frame 2 \(the file ends inside frame 2.*2 complete"):
        frames = list(read_frames(path))
    assert [f.positions[1, 2] for f in frames] == [0.25, 1.25]
    assert count_frames(path) == 2
    assert len(list(read_frames(path, stop=2))) == 2  # a slice before the cut: no warning needed
    one = tmp_path / "one.extxyz"
    one.write_text(frames_text[0][:-2])
    with pytest.raises(InputError, match=r"one.extxyz: no complete extxyz frame"):
        list(read_frames(one))


def test_extxyz_with_a_damaged_atom_count_or_a_blank_line_stops_there(tmp_path):
    """ASE reads as many lines as a count says (10^11: forever) and stops silently at a blank line; we name both."""
    frames_text = [f"2\nProperties=species:S:1:pos:R:3\nAr 0 0 {k}.25\nAr 1 1 {k}.25\n" for k in range(3)]
    huge = tmp_path / "huge.extxyz"
    huge.write_text(frames_text[0] + "99999999992" + "".join(frames_text[1:])[1:])
    with pytest.warns(UserWarning, match=r"huge.extxyz: reading stopped at frame 1 \(the file ends inside frame 1"):
        assert len(list(read_frames(huge))) == 1
    assert count_frames(huge) == 1
    blank = tmp_path / "blank.extxyz"
    blank.write_text(frames_text[0] + "\n" + "".join(frames_text[1:]))
    with pytest.warns(UserWarning, match=r"blank.extxyz: .*frame 1 \(a blank line at byte \d+ is followed by"):
        assert len(list(read_frames(blank))) == 1
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("two\n" + "".join(frames_text))
    with pytest.raises(InputError, match=r"garbage.extxyz: no complete extxyz frame \(frame 0 at byte 0 does not start"):
        list(read_frames(garbage))
    trailing = tmp_path / "trailing.extxyz"
    trailing.write_text("".join(frames_text) + "\n\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(read_frames(trailing))) == count_frames(trailing) == 3


def test_cli_names_an_empty_pdb_with_exit_status_2(tmp_path, capsys):
    from surrogate.cli import main

    empty = tmp_path / "empty.pdb"
    empty.write_bytes(b"")
    assert main(["run", "--system", str(empty), "--steps", "2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "empty.pdb is empty (0 bytes)" in err and "Traceback" not in err


@needs_data
def test_compare_names_an_empty_topology_with_exit_status_2(tmp_path, capsys):
    from surrogate.cli import main

    empty = tmp_path / "empty.pdb"
    empty.write_bytes(b"")
    status = main(["compare", "--top", str(empty), str(XTC), str(XTC), "--out", str(tmp_path / "cmp")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "empty.pdb is empty (0 bytes)" in err and "Traceback" not in err
