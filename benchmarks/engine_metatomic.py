"""metatomic export rows of issue #14: the exported model in two real consumers, against our calculator.

* metatomic-ase (``metatomic_ase.MetatomicCalculator``, ``check_consistency=True``): energies, forces, stress
  and per-atom energies of the exported model against :class:`surrogate.calculator.SurrogateCalculator` on
  the same structures (5 frames of the package's GFN2-xTB periodic water, 24 atoms in a 6.2 Å box, and a
  non-periodic cluster of 3 water molecules), exported in float32 and in float64 from the same weights.
* i-PI (``i-pi`` + ``i-pi-driver-py -m metatomic`` over a UNIX socket, :mod:`surrogate.export.ipi_run`): NVE
  from the first water frame, 0.5 fs, 300 K initial velocities (seed 12345), 20 steps (10 with --quick); the
  potential energy i-PI reports on every step against our calculator on i-PI's own positions.

The model: an EGNN (cutoff 4 Å, 2 layers, 16 features, ZBL repulsion below the data's closest approach per
element pair) trained on the package's water frames: 40 epochs on 69 frames (full), 4 epochs on 35 (quick,
a few CPU seconds). The rows measure the export, not the fit: any trained weights would do.

Usage: ``python -m benchmarks.engine_metatomic [--quick]``; ``run(quick)`` returns (figures, targets).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import target, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WATER = ROOT / "surrogate" / "data" / "xtb_water"
GOALS = {"float32": 1e-5, "float64": 1e-10}


def _model(quick: bool, workdir: Path):
    """(EGNNEnergyModel float32, how it was made): trained on the package's GFN2-xTB water frames."""
    import ase.io

    from surrogate.egnn.train import load_egnn, train_egnn

    frames = ase.io.read(WATER / "training.extxyz", ":")
    data = frames[::4] if quick else frames[::2]
    epochs = 4 if quick else 40
    best = train_egnn(data, workdir / "train", cutoff=4.0, hidden=16, layers=2, max_epochs=epochs, batch_size=4,
                      lr=5e-3, pair_repulsion="zbl", seed=0, progress=False)
    return load_egnn(best), f"trained {epochs} epochs on {len(data)} GFN2-xTB water frames (seed 0)"


def _structures():
    """5 periodic water frames and a 3-molecule cluster (no cell)."""
    import ase.io
    from ase import Atoms
    from ase.build import molecule

    frames = ase.io.read(WATER / "trajectory.extxyz", "::10")[:5]
    rng = np.random.default_rng(0)
    cluster = Atoms()
    for k in range(3):
        w = molecule("H2O")
        w.rotate(rng.uniform(0, 360), rng.normal(size=3))
        w.translate([3.0 * k, 0.3 * k, 0.0])
        cluster += w
    return frames + [cluster]


def _ase_comparison(model, dtype: str, structures, workdir: Path) -> dict:
    from surrogate.calculator import SurrogateCalculator
    from surrogate.export import export_metatomic, import_metatomic

    import_metatomic()
    from metatomic_ase import MetatomicCalculator

    path = export_metatomic(model, workdir / f"model-{dtype}.pt", dtype=dtype)
    ours = SurrogateCalculator(model, dtype=dtype)
    theirs = MetatomicCalculator(str(path), check_consistency=True)
    worst = {"force": 0.0, "energy_per_atom": 0.0, "stress": 0.0, "max_force": 0.0}
    for atoms in structures:
        a, b = atoms.copy(), atoms.copy()
        a.calc, b.calc = ours, theirs
        periodic = bool(atoms.pbc.all())
        worst["force"] = max(worst["force"], float(np.abs(a.get_forces() - b.get_forces()).max()))
        worst["max_force"] = max(worst["max_force"], float(np.abs(a.get_forces()).max()))
        worst["energy_per_atom"] = max(worst["energy_per_atom"],
                                       abs(a.get_potential_energy() - b.get_potential_energy()) / len(atoms))
        if periodic:
            worst["stress"] = max(worst["stress"], float(np.abs(a.get_stress() - b.get_stress()).max()))
    return worst


def _ipi(model, dtype: str, steps: int, workdir: Path) -> dict:
    import ase.io

    from surrogate.calculator import SurrogateCalculator
    from surrogate.export import export_metatomic
    from surrogate.export.ipi_run import ipi_available, run_ipi_nve

    if not ipi_available():
        return {"completed": False, "note": "i-PI not installed"}
    atoms = ase.io.read(WATER / "trajectory.extxyz", 0)
    path = export_metatomic(model, workdir / f"ipi-{dtype}.pt", dtype=dtype)
    try:
        run = run_ipi_nve(path, atoms, workdir / f"ipi-{dtype}", steps=steps, timestep_fs=0.5,
                          temperature_K=300.0, seed=12345, timeout_s=300)
    except RuntimeError as exc:
        return {"completed": False, "note": str(exc)[:2000]}
    calc = SurrogateCalculator(model, dtype=dtype)
    diffs = []
    for positions, potential in zip(run.positions, run.potential):
        frame = atoms.copy()
        frame.positions = positions
        frame.calc = calc
        diffs.append(abs(frame.get_potential_energy() - potential) / len(atoms))
    return {"completed": len(run.steps) == steps + 1 and int(run.steps[-1]) == steps, "steps": int(run.steps[-1]),
            "frames": len(run.steps), "max_energy_diff_per_atom_eV": float(max(diffs)),
            "conserved_range_eV": float(np.ptp(run.conserved)), "potential_range_eV": float(np.ptp(run.potential)),
            "wall_s": run.wall_s}


def run(quick: bool) -> tuple[dict, list[dict]]:
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    figures: dict = {"load_average_at_start": os.getloadavg()[0], "threads": 1}
    targets: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="mta-bench-") as tmp:
        tmp = Path(tmp)
        model, how = _model(quick, tmp)
        figures["model"] = f"EGNN cutoff 4 Å, 2 layers, 16 features, ZBL; {how}"
        structures = _structures()
        figures["structures"] = "5 periodic GFN2-xTB water frames (24 atoms, 6.2 Å box) and a 3-water cluster"
        for dtype in ("float32", "float64"):
            worst = _ase_comparison(model, dtype, structures, tmp)
            figures[f"metatomic-ase {dtype}"] = worst
            targets.append(target(f"metatomic export: max force difference metatomic-ase vs ours ({dtype})",
                                  worst["force"], GOALS[dtype], "lower"))
        steps = 10 if quick else 20
        for dtype in (("float32",) if quick else ("float32", "float64")):
            result = _ipi(model, dtype, steps, tmp)
            figures[f"i-PI NVE {dtype}"] = result
            if dtype == "float32":
                value = result.get("max_energy_diff_per_atom_eV", float("nan"))
                row = target("metatomic export under i-PI: max energy difference per atom on the NVE frames",
                             value, 1e-5, "lower")
                row["met"] = bool(row["met"] and result.get("completed", False))
                targets.append(row)
                figures["metatomic export under i-PI: NVE run completed"] = (
                    f"{result.get('completed', False)}: {result.get('frames', 0)} frames, steps 0..."
                    f"{result.get('steps', '-')} (float32 export)")
    figures["wall_s"] = time.perf_counter() - start
    return figures, targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="untrained model, 10 i-PI steps, float32 i-PI only")
    args = parser.parse_args(argv)
    figures, targets = run(args.quick)
    for key, value in figures.items():
        print(f"{key}: {value}")
    write_result("engine_metatomic" + ("_quick" if args.quick else ""), figures, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
