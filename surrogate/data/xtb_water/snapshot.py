"""Snapshot running GFN2-xTB water runs into this folder (the data `surrogate demo` ships with).

    python snapshot.py RUNS_DIR [--skip-fs 20] [--out .]

RUNS_DIR holds the ``surrogate generate`` output folders ``gfn2`` (replica 0, the continuous reference trajectory
that the demo compares with) and ``gfn2-r1``, ``gfn2-r2``, ... (replicas started from other GFN1 frames with other
seeds). Only complete frames are copied (a run may be writing its last one). Writes, atomically:

- ``trajectory.extxyz``, ``thermo.csv``, ``config.yaml``: replica 0 up to its last complete frame;
- ``run_info.json``: replica 0's steps, simulated ps, and wall time (from its config.yaml to its last frame
  write), plus the cost of every replica (``replicas``);
- ``training.extxyz``: the frames of every replica minus the first ``--skip-fs`` fs of each (the GFN1→GFN2
  transient), the EGNN's training set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the package root, for systems.atomic_file when run from a checkout

from systems.atomic_file import atomic_write_text  # noqa: E402


def complete_frames(path: Path) -> list[str]:
    """The complete extxyz frames of ``path`` as text blocks (a half-written last frame is dropped)."""
    lines = path.read_text().splitlines(keepends=True)
    frames, i = [], 0
    while i < len(lines):
        try:
            n = int(lines[i].strip())
        except ValueError:
            break
        block = lines[i:i + n + 2]
        if len(block) < n + 2 or not block[-1].endswith("\n"):
            break
        frames.append("".join(block))
        i += n + 2
    return frames


def frame_time_fs(frame: str) -> float:
    """The frame's ``time=`` (ASE time units, as `surrogate generate` writes it) in fs."""
    from ase import units

    header = frame.split("\n", 2)[1]
    for token in header.split():
        if token.startswith("time="):
            return float(token[5:]) / units.fs
    raise ValueError("frame has no time= in its header")


def run_cost(folder: Path, frames: list[str]) -> dict:
    """Steps, simulated ps and wall seconds (config.yaml's time to the trajectory's last write) of a run."""
    import yaml

    config = yaml.safe_load((folder / "config.yaml").read_text())
    interval = int(config["traj-interval"])
    steps = (len(frames) - 1) * interval
    ps = steps * float(config["timestep-fs"]) / 1000.0
    wall = os.path.getmtime(folder / "trajectory.extxyz") - os.path.getmtime(folder / "config.yaml")
    return {"run": folder.name, "frames": len(frames), "n_steps": steps, "simulated_ps": ps, "wall_time_s": wall,
            "seed": config.get("seed"), "frame": config.get("frame")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", type=Path, help="folder holding gfn2/, gfn2-r1/, ...")
    p.add_argument("--skip-fs", type=float, default=20.0, help="fs dropped at the start of each replica in training")
    p.add_argument("--out", type=Path, default=HERE)
    a = p.parse_args(argv)
    runs = [a.runs / "gfn2"] + sorted(d for d in a.runs.glob("gfn2-r*") if d.is_dir())
    training, replicas = [], []
    for k, folder in enumerate(runs):
        frames = complete_frames(folder / "trajectory.extxyz")
        if not frames:
            raise SystemExit(f"{folder}/trajectory.extxyz has no complete frame")
        cost = run_cost(folder, frames)
        replicas.append(cost)
        t0 = frame_time_fs(frames[0])
        kept = [f for f in frames if frame_time_fs(f) - t0 >= a.skip_fs - 1e-6]
        training += kept
        print(f"{folder.name}: {len(frames)} complete frames, {len(kept)} for training, "
              f"{cost['wall_time_s']:.0f} s for {cost['n_steps']} steps", file=sys.stderr)
        if k == 0:
            ref_frames, ref_cost, ref_folder = frames, cost, folder
    out = a.out
    atomic_write_text(out / "trajectory.extxyz", "".join(ref_frames))
    atomic_write_text(out / "training.extxyz", "".join(training))
    thermo = (ref_folder / "thermo.csv").read_text().splitlines(keepends=True)
    kept_thermo = [thermo[0]] + [ln for ln in thermo[1:] if ln.strip() and ln.endswith("\n")
                                 and int(ln.split(",")[0]) <= ref_cost["n_steps"]]
    atomic_write_text(out / "thermo.csv", "".join(kept_thermo))
    atomic_write_text(out / "config.yaml", (ref_folder / "config.yaml").read_text())
    info = {
        "command": "surrogate generate --system gfn1-eq/trajectory.extxyz --frame -1 --ase-calculator "
                   "tblite.ase:TBLite --calculator-args {method: GFN2-xTB, verbosity: 0} --integrator langevin "
                   "--temperature-K 350 --friction-per-ps 5 --timestep-fs 0.5 --equilibrate-ps 0 --time-ps 1.5 "
                   "--traj-interval 4 --checkpoint-interval 20 --no-progress --out gfn2",
        "integrator": "LangevinBAOAB", "force_provider": "ASE TBLite (GFN2-xTB)", "n_atoms": 24,
        "n_steps": ref_cost["n_steps"], "timestep_fs": 0.5, "simulated_ps": ref_cost["simulated_ps"],
        "wall_time_s": ref_cost["wall_time_s"], "temperature_K": 350.0, "seed": 0,
        "trajectory": "trajectory.extxyz", "trajectory_interval_steps": 4,
        "wall_time_note": "the run (--time-ps 1.5) was cut at the last frame shipped here; its wall time is the time "
                          "between its config.yaml and its last trajectory write, on a 2-core machine shared with "
                          "other jobs (three xTB replicas ran at once, load 5-14)",
        "kind": "reference",
        "training_set": {"file": "training.extxyz", "frames": len(training), "skip_fs_per_replica": a.skip_fs,
                         "replicas": replicas},
    }
    atomic_write_text(out / "run_info.json", json.dumps(info, indent=1) + "\n")
    print(f"wrote {out}: reference {len(ref_frames)} frames, training {len(training)} frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
