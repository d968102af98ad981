"""GFN2-xTB molecular dynamics of aspirin (C9H8O4, 21 atoms) at 500 K, made with ``surrogate generate``.

Writes, beside this script (``benchmarks/data/``):

- ``aspirin_start.extxyz``: the start structure. It is built here from standard bond lengths (benzene ring,
  carboxylic acid on C1, acetoxy group on C2 turned out of the ring plane) and relaxed with GFN2-xTB (ASE BFGS,
  fmax 0.01 eV/Å); the script checks the relaxed bonded distances against covalent-radius bounds and the
  formula, and refuses a structure whose connectivity is not aspirin's.
- ``xtb_aspirin_train.extxyz.gz``: ``--train-ps`` ps of Langevin MD (seed 0), a frame every ``--interval`` steps
  of 0.5 fs (default 10 ps, 2000 frames), after 1 ps of equilibration that is not written.
- ``xtb_aspirin_test.extxyz.gz``: an independent trajectory (seed 1) for held-out frames (default 2.5 ps, 500 frames).
- ``README.md``: the commands, wall time, machine and frame counts of this run.

Each trajectory is one ``surrogate generate --ase-calculator tblite.ase:TBLite --calculator-args
'{method: GFN2-xTB, verbosity: 0}' --integrator langevin --temperature-K 500 --timestep-fs 0.5 ...`` run,
with ``OMP_NUM_THREADS=1``; the two run side by side (one core each). The extxyz files keep positions (Å),
velocities, energy (eV) and forces (eV/Å) and are gzip-compressed for the repository; readers decompress them
(``benchmarks/reference_accuracy.py`` does so into ``benchmarks/cache/``).

Usage: ``python benchmarks/data/make_xtb_aspirin.py [--train-ps 10] [--test-ps 2.5] [--interval 10]``
Cost: one GFN2 call on aspirin is 10-30 ms on one thread, so the default run is about 29000 calls: 5-15 minutes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gzip
import io
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from systems.atomic_file import atomic_write, atomic_write_text  # noqa: E402

HERE = Path(__file__).resolve().parent
START = HERE / "aspirin_start.extxyz"
CALC_ARGS = "{method: GFN2-xTB, verbosity: 0}"

#: Bonds of aspirin in the atom order built by :func:`build_aspirin` (0-5 ring carbons, 6-9 ring H,
#: 10-13 COOH (C, =O, O, H), 14-20 acetoxy (O, C, =O, CH3 carbon, 3 H)).
ASPIRIN_BONDS = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (2, 6), (3, 7), (4, 8), (5, 9), (0, 10), (10, 11),
                 (10, 12), (12, 13), (1, 14), (14, 15), (15, 16), (15, 17), (17, 18), (17, 19), (17, 20)]


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def build_aspirin():
    """Unrelaxed aspirin (ase.Atoms, Å) from standard bond lengths; see ``ASPIRIN_BONDS`` for the atom order."""
    from ase import Atoms

    ring = [1.39 * np.array([np.cos(np.radians(60 * k)), np.sin(np.radians(60 * k)), 0.0]) for k in range(6)]
    symbols, pos = ["C"] * 6, list(ring)
    for k in range(2, 6):                                   # ring hydrogens
        symbols.append("H"); pos.append(ring[k] + 1.08 * _unit(ring[k]))  # noqa: E702
    c7 = ring[0] + 1.48 * _unit(ring[0])                    # carboxylic acid on C1
    o_carbonyl = c7 + 1.22 * np.array([np.cos(np.radians(60)), np.sin(np.radians(60)), 0.0])
    o_hydroxyl = c7 + 1.34 * np.array([np.cos(np.radians(-60)), np.sin(np.radians(-60)), 0.0])
    symbols += ["C", "O", "O", "H"]
    pos += [c7, o_carbonyl, o_hydroxyl, o_hydroxyl + 0.97 * np.array([1.0, 0.0, 0.0])]
    radial, z = _unit(ring[1]), np.array([0.0, 0.0, 1.0])  # acetoxy on C2, out of the ring plane
    o_ester = ring[1] + 1.38 * radial
    c_acyl = o_ester + 1.36 * _unit(0.35 * radial + z)
    o_acyl = c_acyl + 1.20 * _unit(-0.8 * radial + 0.6 * z - 0.3 * np.array([1.0, 0.0, 0.0]))
    c_methyl = c_acyl + 1.50 * _unit(0.9 * radial + 0.5 * z)
    symbols += ["O", "C", "O", "C"]
    pos += [o_ester, c_acyl, o_acyl, c_methyl]
    axis = _unit(c_methyl - c_acyl)
    p1 = _unit(np.cross(axis, z))
    p2 = np.cross(axis, p1)
    for k in range(3):
        phi = 2 * np.pi * k / 3
        d = np.cos(np.radians(70.5)) * axis + np.sin(np.radians(70.5)) * (np.cos(phi) * p1 + np.sin(phi) * p2)
        symbols.append("H"); pos.append(c_methyl + 1.09 * _unit(d))  # noqa: E702
    return Atoms(symbols, positions=np.array(pos))


def check_aspirin(atoms) -> None:
    """Raise ValueError unless ``atoms`` is C9H8O4 with exactly aspirin's bonds (covalent radii × 1.2)."""
    from ase.data import covalent_radii

    if atoms.get_chemical_formula() != "C9H8O4" or len(atoms) != 21:
        raise ValueError(f"aspirin start: formula {atoms.get_chemical_formula()}, expected C9H8O4")
    d = atoms.get_all_distances()
    r = covalent_radii[atoms.numbers]
    bonded = d < 1.2 * (r[:, None] + r[None, :])
    np.fill_diagonal(bonded, False)
    found = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(bonded)))}
    expected = {tuple(sorted(b)) for b in ASPIRIN_BONDS}
    if found != expected:
        raise ValueError(f"aspirin start: bonds differ from aspirin's: extra {sorted(found - expected)}, "
                         f"missing {sorted(expected - found)}")
    lengths = np.array([d[i, j] for i, j in ASPIRIN_BONDS])
    if not (lengths.min() > 0.9 and lengths.max() < 1.55):
        raise ValueError(f"aspirin start: bond lengths {lengths.min():.3f}-{lengths.max():.3f} Å out of range")


def make_start(path: Path = START) -> dict:
    """Build, relax with GFN2-xTB and check the start structure; write it to ``path``. Returns a summary."""
    from ase.io import write
    from ase.optimize import BFGS
    from tblite.ase import TBLite

    atoms = build_aspirin()
    atoms.calc = TBLite(method="GFN2-xTB", verbosity=0)
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=1000)
    fmax = float(np.abs(atoms.get_forces()).max())
    energy = float(atoms.get_potential_energy())
    check_aspirin(atoms)
    atoms.calc = None
    buffer = io.StringIO()
    write(buffer, atoms, format="extxyz")
    atomic_write_text(path, buffer.getvalue())
    d = atoms.get_all_distances()
    return {"energy_eV": energy, "fmax_eV_per_A": fmax,
            "bond_lengths_A": {f"{atoms[i].symbol}{i}-{atoms[j].symbol}{j}": round(float(d[i, j]), 3)
                               for i, j in ASPIRIN_BONDS}}


def generate_command(out: Path, system: Path, seed: int, time_ps: float, interval: int, equilibrate_ps: float,
                     frame: int = 0) -> list[str]:
    """The ``surrogate generate`` command line of one GFN2-xTB aspirin run at 500 K."""
    return [sys.executable, "-m", "surrogate.cli", "generate", "--system", str(system), "--frame", str(frame),
            "--ase-calculator", "tblite.ase:TBLite", "--calculator-args", CALC_ARGS,
            "--integrator", "langevin", "--temperature-K", "500", "--timestep-fs", "0.5",
            "--equilibrate-ps", str(equilibrate_ps), "--time-ps", str(time_ps), "--traj-interval", str(interval),
            "--log-interval", str(interval), "--seed", str(seed), "--no-progress", "--out", str(out)]


def _gzip(src: Path, dst: Path) -> None:
    def write(raw):
        with open(src, "rb") as fin, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            shutil.copyfileobj(fin, gz)

    atomic_write(dst, write)


def _count_frames(path: Path) -> int:
    from systems.trajectory_reader import count_frames

    return count_frames(path)


def _finished(run: Path) -> bool:
    """A run folder holds a complete run (``run_info.json``) or one reused by hand (``REUSED.md`` says how)."""
    return (run / "trajectory.extxyz").exists() and ((run / "run_info.json").exists() or (run / "REUSED.md").exists())


def _run_stage(commands: dict, env: dict, work: Path) -> float:
    """Run the ``surrogate generate`` commands (name → argv) side by side unless ``work/name`` is already complete."""
    todo = {name: cmd for name, cmd in commands.items() if not _finished(work / name)}
    t0 = time.perf_counter()
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in todo.items()}
    failed = [name for name, p in procs.items() if p.wait() != 0]
    if failed:
        raise SystemExit(f"surrogate generate failed for {failed}; outputs kept in {work}")
    return time.perf_counter() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equilibrate-ps", type=float, default=1.0,
                        help="equilibration run per trajectory (ps; written every 100 steps, not shipped)")
    parser.add_argument("--train-ps", type=float, default=2.0, help="training trajectory length (ps)")
    parser.add_argument("--test-ps", type=float, default=1.0, help="held-out trajectory length (ps)")
    parser.add_argument("--train-interval", type=int, default=2, help="steps of 0.5 fs between training frames")
    parser.add_argument("--test-interval", type=int, default=10, help="steps of 0.5 fs between held-out frames")
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "cache" / "aspirin_gen"),
                        help="folder of the intermediate runs; a finished run found there is reused")
    args = parser.parse_args(argv)

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    os.environ["OMP_NUM_THREADS"] = "1"
    work = Path(args.work)
    t0 = time.perf_counter()
    if START.exists():
        from ase.io import read

        start_atoms = read(START)
        check_aspirin(start_atoms)
        start = {"energy_eV": float("nan"), "fmax_eV_per_A": float("nan"),
                 "bond_lengths_A": {f"{start_atoms[i].symbol}{i}-{start_atoms[j].symbol}{j}":
                                    round(float(start_atoms.get_distance(i, j)), 3) for i, j in ASPIRIN_BONDS}}
    else:
        start = make_start()
    t_start = time.perf_counter() - t0
    print(f"start structure: {START} ({t_start:.1f} s)", flush=True)

    seeds = {"train": 0, "test": 1}
    eq = {f"eq_{name}": generate_command(work / f"eq_{name}", START, seed, args.equilibrate_ps, 100, 0.0)
          for name, seed in seeds.items()}
    t_eq = _run_stage(eq, env, work)
    prod = {name: generate_command(work / name, work / f"eq_{name}" / "trajectory.extxyz", seed + 10,
                                   getattr(args, f"{name}_ps"), getattr(args, f"{name}_interval"), 0.0, frame=-1)
            for name, seed in seeds.items()}
    t_md = _run_stage(prod, env, work)
    frames = {}
    for name in seeds:
        src = work / name / "trajectory.extxyz"
        frames[name] = _count_frames(src)
        _gzip(src, HERE / f"xtb_aspirin_{name}.extxyz.gz")

    def shown(cmd):
        rel = [os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd[3:]]
        return "OMP_NUM_THREADS=1 surrogate " + " ".join(shlex.quote(c) for c in rel)

    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    bonds = ", ".join(f"{k} {v}" for k, v in start["bond_lengths_A"].items())
    reused = "".join(f"\n`{name}` was reused: {(work / name / 'REUSED.md').read_text().strip()}\n"
                     for name in list(eq) + list(prod) if (work / name / "REUSED.md").exists())
    listing = "\n".join(shown(c) for c in list(eq.values()) + list(prod.values()))
    readme = f"""# GFN2-xTB aspirin data (made by `make_xtb_aspirin.py`)

Made {now} by `python benchmarks/data/make_xtb_aspirin.py --equilibrate-ps {args.equilibrate_ps} \
--train-ps {args.train_ps} --test-ps {args.test_ps} --train-interval {args.train_interval} \
--test-interval {args.test_interval}` on {platform.platform()} ({os.cpu_count()} CPUs shared with other jobs, load
average {os.getloadavg()[0]:.1f} at the end).

| file | what | frames |
|---|---|---|
| `aspirin_start.extxyz` | start structure, built from standard bond lengths and relaxed with GFN2-xTB (BFGS, fmax \
0.01 eV/Å); connectivity checked | 1 |
| `xtb_aspirin_train.extxyz.gz` | training trajectory, {args.train_ps} ps, a frame every {args.train_interval} steps \
({0.5 * args.train_interval:g} fs) | {frames['train']} |
| `xtb_aspirin_test.extxyz.gz` | held-out trajectory (independent equilibration and noise), {args.test_ps} ps, a frame \
every {args.test_interval} steps ({0.5 * args.test_interval:g} fs) | {frames['test']} |

Langevin BAOAB at 500 K, friction 1/ps, timestep 0.5 fs. Each trajectory first runs {args.equilibrate_ps} ps from the
relaxed start (its own seed), and production continues from that run's last frame and velocities. Each frame holds
positions (Å), velocities, energy (eV, tblite's total energy) and forces (eV/Å). Commands (the two of each stage ran
side by side, one thread each):

```
{listing}
```
{reused}
Wall time of this invocation: start structure {t_start:.0f} s, equilibration {t_eq:.0f} s (0 when reused from
`--work`), production {t_md:.0f} s ({t_md / 60:.1f} min).

Relaxed bond lengths (Å): {bonds}.
"""
    atomic_write_text(HERE / "README.md", readme)
    print(readme)


if __name__ == "__main__":
    main()
