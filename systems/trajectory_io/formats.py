"""Which library reads a trajectory file, and whether the file's bytes match its format.

:func:`detect_format` goes by the suffix (or an explicit ``format=``);
:func:`check_content` then looks at the file itself, so that a directory, an
empty file, a text file renamed ``.xtc`` or an atom-less PDB is refused by
name instead of failing deep inside MDTraj or ASE.
"""

from __future__ import annotations

import os
from typing import Optional

from ..errors import InputError

#: Frames read per chunk while streaming (XTC blocks, MDTraj file objects and ``mdtraj.iterload``).
CHUNK_FRAMES = 256

# extension -> MDTraj format name (the registry extension without the dot)
MDTRAJ_EXTENSIONS = {
    "xtc": "xtc",
    "trr": "trr",
    "dcd": "dcd",
    "nc": "nc",
    "netcdf": "nc",
    "ncdf": "nc",
    "lammpstrj": "lammpstrj",
    "dump": "lammpstrj",
    "pdb": "pdb",
    "pdb.gz": "pdb.gz",
    "gro": "gro",
    "h5": "h5",
    "hdf5": "h5",
}
# MDTraj formats that carry atom types themselves (no `top` needed).
MDTRAJ_WITH_TOPOLOGY = {"pdb", "pdb.gz", "gro", "h5", "lh5", "mol2", "hoomdxml", "pdbx", "cif", "mmcif", "gsd", "arc"}
# MDTraj formats that store a real simulation time (the others get time None).
MDTRAJ_WITH_TIME = {"xtc", "trr", "nc", "h5"}
# extension -> ASE format name, where ASE's own guess is not what users mean.
ASE_EXTENSIONS = {"xyz": "extxyz", "extxyz": "extxyz", "traj": "traj", "castep": "castep-castep"}

# MDTraj text formats: a NUL byte in their first bytes means a binary file under a text suffix.
_MDTRAJ_TEXT = {"pdb", "gro", "lammpstrj", "mol2", "arc", "hoomdxml", "pdbx", "cif", "mmcif"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# binary formats: (a readable name, the test on the first bytes, what the file should start with)
_MAGIC = {
    "xtc": ("an XTC", lambda h: h[:4] == (1995).to_bytes(4, "big"), "the XDR magic number 1995"),
    "trr": ("a TRR", lambda h: h[:4] == (1993).to_bytes(4, "big"), "the XDR magic number 1993"),
    "dcd": ("a DCD", lambda h: h[4:8] == b"CORD" and h[:4] in ((84).to_bytes(4, "little"), (84).to_bytes(4, "big")),
            "a Fortran record of 84 bytes holding 'CORD'"),
    "nc": ("a NetCDF", lambda h: h[:3] == b"CDF" or h[:8] == _HDF5_SIGNATURE, "'CDF' or the HDF5 signature"),
    "h5": ("an HDF5", lambda h: h[:8] == _HDF5_SIGNATURE, "the HDF5 signature \\x89HDF"),
    "pdb.gz": ("a gzip", lambda h: h[:2] == b"\x1f\x8b", "the gzip signature \\x1f\\x8b"),
}
_ASE_MAGIC = {
    "traj": ("an ASE .traj", lambda h: h[:8] in (b"- of Ulm", b"AFFormat") or h[:16] == b"PickleTrajectory",
             "'- of Ulm'"),
}
_HEAD_BYTES = 65536


# --------------------------------------------------------------------------- suffix -> library and format
def extension(path: str) -> str:
    """The lower-case suffix of ``path`` without the dot (``"pdb.gz"`` for a gzipped PDB; ``""`` for none)."""
    name = os.path.basename(path).lower()
    if name.endswith(".gz") and name.count(".") >= 2:
        return ".".join(name.rsplit(".", 2)[-2:])
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _mdtraj_registry_extensions() -> set:
    from mdtraj.formats.registry import FormatRegistry

    return {ext.lstrip(".") for ext in list(FormatRegistry.loaders) + list(FormatRegistry.fileobjects)}


def _ase_formats() -> dict:
    from ase.io.formats import ioformats

    return ioformats


def detect_format(path, format: Optional[str] = None) -> tuple:
    """Which library reads ``path`` and under which format name.

    Returns ``("mdtraj", ext)`` (e.g. ``"xtc"``) or ``("ase", ase_format)``
    (e.g. ``"extxyz"``, ``"aims-output"``). ``format`` overrides the extension:
    an MDTraj extension or any ASE format name. Raises :class:`InputError`
    naming the file for an unknown format.
    """
    path = os.fspath(path)
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt in MDTRAJ_EXTENSIONS:
            return "mdtraj", MDTRAJ_EXTENSIONS[fmt]
        if fmt in ASE_EXTENSIONS:
            return "ase", ASE_EXTENSIONS[fmt]
        if fmt in _ase_formats():
            return "ase", fmt
        if fmt in _mdtraj_registry_extensions():
            return "mdtraj", fmt
        raise InputError(
            f"{path}: unknown trajectory format {format!r}; use an MDTraj extension "
            f"({', '.join(sorted(MDTRAJ_EXTENSIONS))}) or an ASE format name (see `ase info --formats`)"
        )
    ext = extension(path)
    if ext in MDTRAJ_EXTENSIONS:
        return "mdtraj", MDTRAJ_EXTENSIONS[ext]
    if ext in ASE_EXTENSIONS:
        return "ase", ASE_EXTENSIONS[ext]
    if ext == "out" and _mentions(path, (b"FHI-aims", b"control.in")):
        # ASE's content sniffing takes aims MD output for espresso output.
        return "ase", "aims-output"
    if ext and ext in _mdtraj_registry_extensions():
        return "mdtraj", ext
    if os.path.isdir(path):
        return "ase", "bundletrajectory"  # the one directory format; check_content refuses other folders
    if os.path.exists(path):
        from ase.io.formats import UnknownFileTypeError, filetype

        try:
            return "ase", filetype(path, guess=False)
        except (UnknownFileTypeError, OSError, ValueError) as err:
            raise InputError(f"{path}: cannot tell the trajectory format from the extension or contents ({err}); "
                             f"pass format=") from None
    if ext in _ase_formats():
        return "ase", ext
    raise InputError(f"{path}: unknown trajectory extension {ext!r}; pass format= (an MDTraj extension or ASE format)")


def _mentions(path: str, needles: tuple, n_bytes: int = _HEAD_BYTES) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(n_bytes)
        return any(needle in head for needle in needles)
    except OSError:
        return False


# --------------------------------------------------------------------------- content matches format
def check_content(path: str, library: str, fmt: str) -> None:
    """Refuse, by name, a file whose bytes cannot be a ``fmt`` file.

    path : an existing path. library, fmt : as returned by :func:`detect_format`.

    Raises :class:`InputError` naming the file for: a directory (unless it is an
    ASE BundleTrajectory read as one), an empty file, a binary format whose
    first bytes are not its signature (an XTC must start with the XDR magic
    number 1995), a text format holding NUL bytes, and a PDB with no ATOM or
    HETATM record. Only the first 64 kB are read (all of a PDB until its first atom).
    """
    if os.path.isdir(path):
        if library == "ase" and fmt == "bundletrajectory":
            from ase.io.bundletrajectory import BundleTrajectory

            if BundleTrajectory.is_bundle(path):
                return
        raise InputError(f"{path} is a directory, not a trajectory file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as err:
        raise InputError(f"cannot open trajectory file {path}: {err.strerror or err}") from None
    if not head:
        raise InputError(f"{path} is empty (0 bytes): no {fmt} frame to read")
    magic = (_MAGIC if library == "mdtraj" else _ASE_MAGIC).get(fmt)
    if magic is not None:
        name, matches, expected = magic
        if not matches(head):
            raise InputError(f"{path} is not {name} file: it starts with {head[:8]!r}, "
                             f"not {expected} (a file of another format under this suffix, or damaged at its start)")
        return
    if _is_text_format(library, fmt) and b"\x00" in head:
        at = head.index(b"\x00")
        raise InputError(f"{path} is not a {fmt} text file: it holds a NUL byte at byte {at} "
                         f"(a binary file under this suffix, or a file overwritten with zeros)")
    if library == "mdtraj" and fmt == "pdb" and not _pdb_has_atoms(path):
        raise InputError(f"{path} is not a usable PDB file: it has no ATOM or HETATM record")


def _is_text_format(library: str, fmt: str) -> bool:
    if library == "mdtraj":
        return fmt in _MDTRAJ_TEXT
    io_format = _ase_formats().get(fmt)
    return io_format is not None and not io_format.isbinary


def _pdb_has_atoms(path: str) -> bool:
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith((b"ATOM", b"HETATM")):
                return True
    return False
