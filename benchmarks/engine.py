"""Issue #14: the engine a simulation user expects (NPT, constraints, batched replicas, physical validation,
metatomic export).

Rows (each from its part module, which documents its method):

* ``engine_npt``: LJ argon NPT density at 1 bar and 94.4 K against OpenMM's MonteCarloBarostat on the same
  potential; NPT volume fluctuations against the compressibility of a separate run; physical-validation of the
  NPT ensemble.
* ``engine_validation``: physical-validation of Langevin, Bussi and the velocity-Verlet convergence order;
  RATTLE bond lengths.
* ``engine_replicas``: batched EGNN MD of 64 replicas against 64 sequential runs.
* ``engine_metatomic``: the exported metatomic model under metatomic-ase and i-PI against our calculator.

Usage: ``python benchmarks/engine.py [--quick] [--parts engine_npt,...]``; writes ``results/engine.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.aggregate import main  # noqa: E402

PARTS = ["engine_npt", "engine_validation", "engine_replicas", "engine_metatomic"]

if __name__ == "__main__":
    sys.exit(main("engine", PARTS, __doc__))
