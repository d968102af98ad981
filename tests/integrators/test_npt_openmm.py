"""LJ argon at 1 bar and 94.4 K: our C-rescale NPT gives OpenMM's MonteCarloBarostat density on the same
potential (2.5σ cut, energy shifted, no long-range correction), within 3 combined standard errors."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import npt_argon as A

from .stats import block_mean

pytest.importorskip("openmm")


def test_npt_density_matches_openmm_monte_carlo_barostat():
    # one equilibrated liquid (from a lattice start) for both engines, so neither spends its run melting
    start = A.run_ours(A.start(128, seed=0), "crescale", n_equil=1500, n_prod=0, seed=9)["system"]
    ours = A.run_ours(start, "crescale", n_equil=0, n_prod=8000, every=10, seed=1)
    # a volume move every 5 steps: OpenMM's volume decorrelates in a few ps, as C-rescale's does
    theirs = A.run_openmm(start, n_equil=0, n_prod=8000, every=10, seed=1, barostat_interval=5)
    (m1, e1), (m2, e2) = (block_mean(A.density(run["volume"], start), 10) for run in (ours, theirs))
    sigma = float(np.hypot(e1, e2))
    assert sigma < 0.01 * m2, f"error bars too wide to test anything: ±{sigma:.4f} g/cm³"
    assert abs(m1 - m2) < 3.0 * sigma, f"ours {m1:.4f} ± {e1:.4f}, OpenMM {m2:.4f} ± {e2:.4f} g/cm³"
