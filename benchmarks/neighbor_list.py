"""Neighbor-list build time against vesin, matscipy and ASE, in the same run.

Setup (issue #2): FCC argon ``bulk('Ar','fcc',a=5.26,cubic=True).repeat(n)`` with
0.05 Å Gaussian jitter, cutoff 8.5 Å, full list, N = 500, 4000, 32000, 2 threads.

    python benchmarks/neighbor_list.py            # full
    python benchmarks/neighbor_list.py --quick    # < 1 minute

Prints per-library medians (ms) and ratios ours/peer (< 1 means we are faster),
the skin-reuse check cost, compile times (cold and warm cache) and the peak resident memory of one
build over its output arrays (fresh process per N, Linux).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import median_time, target, write_result  # noqa: E402

CUTOFF = 8.5


def argon(n_repeat: int, seed: int = 0):
    from ase.build import bulk

    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat(n_repeat)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.05, size=atoms.positions.shape)
    return atoms


def compile_times() -> dict:
    """First-call time in a fresh process with an empty cache, then with the cache warm (s)."""
    code = (
        "import time; t=time.perf_counter();"
        "import numpy as np; from systems.neighbor_list import build_pairs;"
        "from ase.build import bulk; a=bulk('Ar','fcc',a=5.26,cubic=True).repeat(3);"
        "build_pairs(a.positions, a.cell[:], a.pbc, 8.5); print(time.perf_counter()-t)"
    )
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold_cache_s", "warm_cache_s"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            out[label] = float(res.stdout.strip().splitlines()[-1])
    return out


_PEAK_CODE = """
import re, sys
from benchmarks.neighbor_list import argon
from systems.neighbor_list import build_pairs

def status(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024

warm = argon(3)  # 108 atoms: loads the cached kernels and starts the thread pool
build_pairs(warm.positions, warm.cell[:], warm.pbc, {cutoff})
a = argon({n_repeat})
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)
except OSError as exc:
    print("unsupported", exc)
    sys.exit(0)
base = status("VmRSS")
r = build_pairs(a.positions, a.cell[:], a.pbc, {cutoff})
peak = status("VmHWM")
print(peak - base, sum(x.nbytes for x in r))
"""


def peak_memory(n_repeat: int, threads: int) -> dict:
    """Peak resident-memory growth of one build over the size of its output arrays, in a fresh process.

    The process loads the kernels (one build of 108 atoms), resets the kernel's peak-RSS mark
    (``/proc/self/clear_refs``), builds once at this size and reads the peak (``VmHWM``) against the RSS
    before the build. A fresh process per size, because a build that reuses memory an earlier build
    freed does not grow the RSS; RSS, not tracemalloc, because Numba's arrays bypass Python's allocator.
    Returns {"peak_growth_MB", "output_MB", "peak_over_output"}, or {"unsupported": reason}.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", _PEAK_CODE.format(n_repeat=n_repeat, cutoff=CUTOFF)], cwd=root,
                         env=env, capture_output=True, text=True, check=True)
    last = res.stdout.strip().splitlines()[-1]
    if last.startswith("unsupported"):
        return {"unsupported": last}
    growth, out = (int(x) for x in last.split())
    return {"peak_growth_MB": growth / 2**20, "output_MB": out / 2**20, "peak_over_output": growth / out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 500 and 4000 only, fewer repeats")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import numba

    numba.set_num_threads(args.threads)
    from systems.neighbor_list import NeighborList, build_pairs

    repeats = 3 if args.quick else 5
    sizes = {500: 5, 4000: 10} if args.quick else {500: 5, 4000: 10, 32000: 20}
    figures: dict = {"cutoff_A": CUTOFF, "threads": args.threads, "compile": compile_times(), "sizes": {}}
    targets = []

    try:
        import vesin
    except ImportError:
        vesin = None
    try:
        from matscipy.neighbours import neighbour_list as matscipy_nl
    except ImportError:
        matscipy_nl = None
    from ase.neighborlist import neighbor_list as ase_nl

    print(f"{'N':>6} {'pairs':>9} {'ours ms':>9} {'vesin ms':>9} {'matscipy':>9} {'ase ms':>9} {'ours/vesin':>10}")
    for n_atoms, n_rep in sizes.items():
        atoms = argon(n_rep)
        pos, cell, pbc = atoms.positions, atoms.cell[:], atoms.pbc
        row: dict = {}
        result = build_pairs(pos, cell, pbc, CUTOFF)
        row["pairs"] = int(len(result.i))
        row["ours_ms"] = 1e3 * median_time(lambda: build_pairs(pos, cell, pbc, CUTOFF), repeats)
        if vesin is not None:
            calc = vesin.NeighborList(cutoff=CUTOFF, full_list=True)
            row["vesin_ms"] = 1e3 * median_time(lambda: calc.compute(pos, cell, True, quantities="ijSDd"), repeats)
            row["ratio_ours_over_vesin"] = row["ours_ms"] / row["vesin_ms"]
        if matscipy_nl is not None:
            row["matscipy_ms"] = 1e3 * median_time(lambda: matscipy_nl("ijSDd", atoms, CUTOFF), repeats)
            row["ratio_ours_over_matscipy"] = row["ours_ms"] / row["matscipy_ms"]
        if n_atoms <= 4000:
            row["ase_ms"] = 1e3 * median_time(lambda: ase_nl("ijSDd", atoms, CUTOFF), 1 if n_atoms > 500 else repeats, 0)
            row["ratio_ours_over_ase"] = row["ours_ms"] / row["ase_ms"]
        # Skin reuse: the per-step check against a rebuild.
        nl = NeighborList(CUTOFF, skin=1.0)
        nl.update(pos, cell, pbc)
        moved = pos + 0.01
        row["skin_check_ms"] = 1e3 * median_time(lambda: nl.needs_rebuild(moved, cell, pbc), repeats * 4)
        row["skin_rebuild_ms"] = 1e3 * median_time(lambda: build_pairs(pos, cell, pbc, CUTOFF + 1.0, with_vectors=False), repeats)
        row["rebuild_over_check"] = row["skin_rebuild_ms"] / row["skin_check_ms"]
        # Peak memory of one build against the size of its output arrays (fresh process, see peak_memory).
        row["memory"] = peak_memory(n_rep, args.threads)
        figures["sizes"][str(n_atoms)] = row
        fmt = lambda k: f"{row[k]:9.2f}" if k in row else f"{'-':>9}"  # noqa: E731
        mem = row["memory"]
        mem_txt = (f"peak {mem['peak_growth_MB']:.1f} MB = {mem['peak_over_output']:.2f} × output"
                   if "peak_over_output" in mem else mem["unsupported"])
        print(f"{n_atoms:>6} {row['pairs']:>9} {fmt('ours_ms')} {fmt('vesin_ms')} {fmt('matscipy_ms')} {fmt('ase_ms')}"
              f" {row.get('ratio_ours_over_vesin', float('nan')):>10.2f}   {mem_txt}")
        if n_atoms >= 4000 and "ratio_ours_over_vesin" in row:
            targets.append(target(f"time ours/vesin, N={n_atoms}", row["ratio_ours_over_vesin"], 1.0, "lower"))
        targets.append(target(f"rebuild / skin check, N={n_atoms}", row["rebuild_over_check"], 5.0, "higher"))
        if n_atoms == max(sizes) and "peak_over_output" in row["memory"]:
            # At the largest N only: at small N a fixed overhead (pages, thread arenas) dominates the ratio.
            targets.append(target(f"peak memory / output arrays, N={n_atoms}", row["memory"]["peak_over_output"],
                                  2.0, "lower"))
    print(f"compile: first call {figures['compile']['cold_cache_s']:.1f} s with an empty cache, "
          f"{figures['compile']['warm_cache_s']:.1f} s with the cache warm (process start and imports included)")
    write_result("neighbor_list", figures, targets)


if __name__ == "__main__":
    main()
