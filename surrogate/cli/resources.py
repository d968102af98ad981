"""Size and memory estimates made before long work, and the refusal when a job would not fit.

The estimates are deliberately simple: memory from the atom count and the
neighbors within cutoff + skin, output from frames × atoms × bytes per atom
of the format. They are calibrated on this package's own runs (liquid argon,
Lennard-Jones, cutoff 8.5 Å, skin 1 Å: peak resident memory grows by 3.0 kB
per atom, 82 bytes per half-list pair with 37 pairs per atom, measured at
300 000 atoms; extxyz with velocities and forces takes 190 bytes per atom and
frame). They exist to refuse ``--n-atoms 10000000`` at once instead of dying
with MemoryError a minute later, not to predict to the megabyte.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from systems.errors import InputError

GB = 1024.0**3
#: Share of the available memory a job may plan to use when no --max-memory-gb is given.
MEMORY_FRACTION = 0.8
#: Bytes per atom of the state, forces, integrator copies and per-atom buffers (float64).
BYTES_PER_ATOM = 300.0
#: Bytes per pair of a half neighbor list with skin (indices, shifts, distances, build temporaries).
BYTES_PER_HALF_PAIR = 90.0
#: Bytes per atom and frame of each trajectory format (extxyz: positions, velocities, forces as text).
BYTES_PER_ATOM_FRAME = {"extxyz": 190.0, "xyz": 190.0, "traj": 80.0, "xtc": 6.0, "trr": 40.0, "dcd": 12.0,
                        "nc": 24.0, "pdb": 81.0, "h5": 12.0, "lammpstrj": 60.0}
#: Atoms per Å³ assumed for a system without a periodic volume (a dense liquid; water has 0.1).
DENSE_LIQUID_PER_A3 = 0.1


def available_memory_bytes() -> float:
    """Memory the kernel could give this process now: MemAvailable of /proc/meminfo, else the
    physical memory (``os.sysconf``); ``inf`` where neither is known."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES")) * float(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def memory_limit_bytes(args) -> tuple[float, str]:
    """``(bytes, where it comes from)``: --max-memory-gb, else a share of the available memory."""
    given = getattr(args, "max_memory_gb", None)
    if given is not None:
        return given * GB, f"--max-memory-gb {given:g}"
    available = available_memory_bytes()
    return MEMORY_FRACTION * available, f"{MEMORY_FRACTION:.0%} of the {available / GB:.3g} GB available"


def pairs_per_atom(density_per_A3: float, radius: float, half: bool = True) -> float:
    """Neighbors of one atom within ``radius`` Å at ``density_per_A3`` atoms/Å³ (half: each pair once)."""
    full = density_per_A3 * 4.0 / 3.0 * math.pi * radius**3
    return 0.5 * full if half else full


def system_density(system) -> float:
    """Atoms per Å³ of a periodic system; a dense liquid's for a system without a periodic volume."""
    import numpy as np

    volume = abs(float(np.linalg.det(system.cell))) if bool(np.all(system.pbc)) else 0.0
    if volume > 0:
        return system.n_atoms / volume
    return DENSE_LIQUID_PER_A3


def simulation_memory_bytes(n_atoms: int, density_per_A3: float, cutoff: float, skin: float = 1.0,
                            graph_bytes_per_edge: float = 0.0) -> float:
    """Peak memory (bytes) of MD on ``n_atoms``: state + a half neighbor list within cutoff + skin (Å),
    plus ``graph_bytes_per_edge`` for each directed edge within the cutoff (a learned model's graph)."""
    half = pairs_per_atom(density_per_A3, cutoff + skin)
    edges = pairs_per_atom(density_per_A3, cutoff, half=False)
    return n_atoms * (BYTES_PER_ATOM + BYTES_PER_HALF_PAIR * half + graph_bytes_per_edge * edges)


def trajectory_bytes(n_atoms: int, n_frames: int, fmt: str) -> float:
    """Size (bytes) of ``n_frames`` frames of ``n_atoms`` in trajectory format ``fmt``."""
    return float(n_atoms) * n_frames * BYTES_PER_ATOM_FRAME.get(fmt.lstrip(".").lower(), 80.0)


def free_disk_bytes(out) -> float:
    """Free bytes on the file system that holds ``out`` (its nearest existing parent); ``inf`` where the
    file system reports no size (a pseudo file system: writing there fails with its own error)."""
    path = Path(out).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return math.inf
    return float(usage.free) if usage.total > 0 else math.inf  # /proc and kin report no size at all


def check_memory(args, estimate: float, what: str) -> None:
    """Refuse (InputError) when ``estimate`` bytes exceed the memory limit, unless --no-size-check."""
    if getattr(args, "no_size_check", False):
        return
    limit, source = memory_limit_bytes(args)
    if estimate > limit:
        raise InputError(f"{what} needs about {estimate / GB:.3g} GB of memory, more than the limit of "
                         f"{limit / GB:.3g} GB ({source}); make it smaller, or raise the limit with "
                         "--max-memory-gb GB (or skip this check with --no-size-check)")


def check_output(args, estimate: float, what: str) -> None:
    """Refuse (InputError) when ``estimate`` bytes exceed --max-output-gb or the free disk space of --out."""
    if getattr(args, "no_size_check", False):
        return
    given = getattr(args, "max_output_gb", None)
    if given is not None:
        limit, source = given * GB, f"--max-output-gb {given:g}"
    else:
        limit = free_disk_bytes(args.out)
        source = f"free space on the disk of {args.out}"
    if estimate > limit:
        raise InputError(f"{what} would write about {estimate / GB:.3g} GB, more than {limit / GB:.3g} GB "
                         f"({source}); write fewer frames (--traj-interval, --steps) or a compact --format (xtc), "
                         "or raise the limit with --max-output-gb GB (or skip this check with --no-size-check)")
