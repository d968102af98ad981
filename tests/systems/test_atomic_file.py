"""Atomic writes: the file is whole or absent, and gets ordinary permissions."""

import os
import stat

import pytest

from systems.atomic_file import atomic_copy, atomic_write, atomic_write_text


def test_text_written_whole_with_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.json", "{}\n")
    finally:
        os.umask(old)
    assert path.read_text() == "{}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def broken(handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_copy_is_whole_and_a_failed_one_keeps_the_old_file(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(bytes(range(256)) * 1000)
    dest = atomic_copy(source, tmp_path / "out" / "model.pt")
    assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(FileNotFoundError):
        atomic_copy(tmp_path / "missing.bin", dest)
    assert dest.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.pt"]
