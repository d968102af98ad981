"""Issue #12: surrogates you can trust (committees, fallback, active learning, exact MC, Dask).

Rows (each from its part module, which documents its method):

* ``trust_committee``: Spearman ρ between a frame's predicted max force std and its true max force error.
* ``trust_learning``: the fallback run above the training temperature; active learning from 20 seed frames.
* ``trust_mc``: exactness and reference calls per effective sample of delayed-acceptance and nested MC.
* ``trust_dask``: labelling throughput with 2 Dask workers against 1; a killed worker loses no frame.

Usage: ``python benchmarks/trust.py [--quick] [--parts trust_mc,...]``; writes ``results/trust.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.aggregate import main  # noqa: E402

PARTS = ["trust_committee", "trust_learning", "trust_mc", "trust_dask"]

if __name__ == "__main__":
    sys.exit(main("trust", PARTS, __doc__))
