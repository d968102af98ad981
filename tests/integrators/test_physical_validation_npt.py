"""physical_validation (v1.0.5) on our NPT: the kinetic-energy distribution of liquid argon under C-rescale,
and the ensemble check of the volume distributions at two pressures (same temperature), which tests the
sampled V^N exp(−βPV) itself."""

from __future__ import annotations

import pytest

pytest.importorskip("physical_validation")
pytest.importorskip("pymbar")

from benchmarks import npt_argon as A  # noqa: E402
from benchmarks.engine_npt import PV_BAROSTATS, PV_THRESHOLD  # noqa: E402


def test_npt_kinetic_energy_distribution():
    """Mean and width of the kinetic energy match the Maxwell–Boltzmann gamma distribution at 94.4 K
    (within 3 standard errors) while the cell is being rescaled."""
    d_mean, d_width = A.kinetic_energy_check(64, barostat="crescale", n_equil=800, n_prod=3000, seed=3)
    assert abs(d_mean) < PV_THRESHOLD and abs(d_width) < PV_THRESHOLD, (d_mean, d_width)


def test_npt_volume_ensemble_check_two_pressures():
    """The ratio of the volume distributions at P and P + ΔP is exp(−βΔP V): MC volume moves on argon gas."""
    quantiles = A.volume_ensemble_check(64, barostat="mc", n_equil=600, n_prod=4000, seed=3, **PV_BAROSTATS["mc"])
    assert max(abs(q) for q in quantiles) < PV_THRESHOLD, quantiles
