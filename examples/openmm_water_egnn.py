"""Classical OpenMM water → an EGNN trained on it → surrogate MD → O–O and O–H RDFs compared.

Uses the TIP3P box that ships inside the openmm package (2685 atoms, flexible
water: our integrators have no constraints, hence the 0.5 fs step). Every step
is an ordinary ``surrogate`` command, so you can rerun or scale any of them.

    python examples/openmm_water_egnn.py --out water            # about 20-30 min on 2 CPU cores
    python examples/openmm_water_egnn.py --out water --quick    # a few minutes: checks the pipeline

Exits cleanly (status 0, with a message) when openmm is not installed
(``pip install -e ".[reference]"`` or ``pip install openmm``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="water-egnn", help="output folder")
    parser.add_argument("--quick", action="store_true", help="tiny settings that only check the pipeline")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    try:
        import openmm.app
    except ImportError:
        print("openmm is not installed: skipping this example (pip install openmm)")
        return 0
    from surrogate.cli import main as surrogate

    pdb = Path(os.path.dirname(openmm.app.__file__)) / "data" / "tip3p.pdb"
    out = Path(args.out)
    ref, model, egnn, report = out / "reference", out / "egnn-model", out / "egnn", out / "report"
    q = args.quick
    steps = [
        # 1. classical reference with OpenMM (TIP3P, PME), our Langevin integrator, 0.5 fs, 300 K
        ["generate", "--pdb", pdb, "--forcefield", "amber14/tip3p.xml", "--integrator", "langevin",
         "--timestep-fs", 0.5, "--temperature-K", 300, "--equilibrate-ps", 0.05 if q else 1.0,
         "--time-ps", 0.1 if q else 2.0, "--traj-interval", 20, "--out", ref],
        # 2. an EGNN on its energies and forces
        ["train", "egnn", ref / "trajectory.extxyz", "--cutoff", 4.0, "--hidden", 16 if q else 32,
         "--layers", 2, "--max-epochs", 2 if q else 40, "--stride", 2 if q else 1, "--batch-size", 2,
         "--device", args.device, "--out", model],
        # 3. surrogate MD with it from the reference's last frame
        ["run", "--system", ref / "trajectory.extxyz", "--frame", -1, "--model", model / "best.pt",
         "--integrator", "langevin", "--timestep-fs", 0.5, "--temperature-K", 300,
         "--time-ps", 0.02 if q else 1.0, "--traj-interval", 10, "--device", args.device, "--out", egnn],
        # 4. O–O and O–H RDFs (and everything else) against the reference
        ["compare", ref / "trajectory.extxyz", egnn / "trajectory.extxyz", "--labels", "openmm", "egnn",
         "--out", report],
    ]
    for argv in steps:
        argv = [str(a) for a in argv]
        print("\n$ surrogate " + " ".join(argv), flush=True)
        status = surrogate(argv)
        if status == 2 or (status != 0 and argv[0] != "compare"):
            return status
    result = json.loads((report / "comparison.json").read_text())
    per_pair = result["distances"]["egnn"]["rdf"]["detail"]["per_pair"]  # integrated |Δg(r)| per element pair
    print(f"\nRDF distance EGNN vs OpenMM: O–O {per_pair['O-O']:.3f}, O–H {per_pair['H-O']:.3f}, "
          f"H–H {per_pair['H-H']:.3f} (default tolerance {result['tolerances']['rdf']})")
    print(f"report: {report / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
