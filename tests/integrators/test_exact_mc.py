"""Delayed-acceptance and nested-chain MC sample the reference's Boltzmann distribution exactly.

One particle in the double well U_ref = x⁴/4 − x²/2 (eV, x in Å), moved along x
only; the surrogate is deliberately wrong (deeper, tilted wells). The χ² test
uses equal-probability bins of the numerically integrated exact density and
samples thinned by the integrated autocorrelation time; the same test applied
to plain MC on the surrogate must fail, so the test can tell.
"""

import numpy as np
import pytest
from scipy import integrate, stats

from integrators import DelayedAcceptanceMC, MetropolisMC, NestedMC, Simulation
from integrators.autocorrelation import integrated_time, thinned
from systems import units
from systems.catalogue import oscillator_1d
from systems.errors import InputError
from systems.forces import ForceResult

KT = 0.3  # eV; barrier 0.25 eV, so the chain hops between wells often
TEMPERATURE_K = KT / units.kB
N_BINS = 12


class TiltedWell:
    """A real but wrong 1D potential U = a x⁴/4 − b x²/2 + t x per particle (eV, x in Å)."""

    def __init__(self, a=1.0, b=1.3, t=0.15):
        self.a, self.b, self.t = a, b, t
        self.calls = 0

    def energy(self, x):
        return self.a * x**4 / 4 - self.b * x**2 / 2 + self.t * x

    def compute(self, system, stress=False):
        self.calls += 1
        x = system.positions[:, 0]
        forces = np.zeros_like(system.positions)
        forces[:, 0] = -(self.a * x**3 - self.b * x + self.t)
        return ForceResult(float(self.energy(x).sum()), forces)


def reference_energy(x):
    return x**4 / 4 - x**2 / 2


def exact_bin_edges(n_bins=N_BINS):
    """Edges of ``n_bins`` equal-probability bins of exp(−U_ref/kT) (outer edges ±inf)."""
    grid = np.linspace(-4.0, 4.0, 40001)
    density = np.exp(-reference_energy(grid) / KT)
    cdf = integrate.cumulative_trapezoid(density, grid, initial=0.0)
    cdf /= cdf[-1]
    inner = np.interp(np.arange(1, n_bins) / n_bins, cdf, grid)
    return np.concatenate([[-np.inf], inner, [np.inf]])


def chi2_pvalue(xs):
    """p-value of the χ² test of the IAT-thinned samples against the exact reference distribution."""
    sample = thinned(xs)
    counts = np.histogram(sample, bins=exact_bin_edges())[0]
    expected = np.full(N_BINS, len(sample) / N_BINS)
    return stats.chisquare(counts, expected).pvalue, len(sample)


def sample_x(integrator, n_steps, burn_in=300):
    system, _ = oscillator_1d("double_well", x0=1.0)
    sim = Simulation(system, integrator)
    sim.run(burn_in)  # adaptation (not exact) and equilibration, through the driver
    xs = np.empty(n_steps)
    for k in range(n_steps):  # production: step the integrator directly, the driver's bookkeeping is not needed
        integrator.step(system)
        xs[k] = system.positions[0, 0]
    assert np.all(system.positions[:, 1:] == 0.0)
    return xs


def double_well():
    return oscillator_1d("double_well", x0=0.0)[1]


def test_delayed_acceptance_is_exact_under_the_reference_with_a_wrong_surrogate():
    surrogate = TiltedWell()
    da = DelayedAcceptanceMC(surrogate, double_well(), temperature_K=TEMPERATURE_K, step_size=1.0, mode="all",
                             axes=(0,), adapt_sweeps=100, seed=11)
    xs = sample_x(da, 12000)
    p, n = chi2_pvalue(xs)
    assert n > 300, n
    assert p > 1e-3, (p, n)
    # the surrogate screens: only stage-1 survivors cost a reference call
    assert da.reference_calls < 0.8 * da.surrogate_calls
    assert 0.2 < da.stage1_rate < 0.9 and 0.3 < da.stage2_rate < 1.0
    assert surrogate.calls == da.surrogate_calls
    assert set(da.thermo_fields()) >= {"da_stage1_acceptance", "da_stage2_acceptance", "reference_calls"}


def test_nested_mc_is_exact_under_the_reference_with_a_wrong_surrogate():
    nested = NestedMC(TiltedWell(), double_well(), temperature_K=TEMPERATURE_K, inner_steps=4, step_size=1.0,
                      mode="all", axes=(0,), adapt_sweeps=100, seed=12)
    xs = sample_x(nested, 4000)
    p, n = chi2_pvalue(xs)
    assert n > 300, n
    assert p > 1e-3, (p, n)
    assert nested.reference_calls == nested.outer_steps + 1  # one per proposal, one at the start
    assert 0.2 < nested.outer_rate < 0.95, nested.outer_rate


def test_plain_mc_on_the_wrong_surrogate_fails_the_same_test():
    mc = MetropolisMC(TiltedWell(), temperature_K=TEMPERATURE_K, step_size=1.0, mode="all", axes=(0,),
                      adapt_sweeps=100, seed=11)
    p, n = chi2_pvalue(sample_x(mc, 6000))
    assert n > 150, n  # fewer samples than the exact chains get, and still a clear failure
    assert p < 1e-6, (p, n)


@pytest.mark.parametrize("make", [
    lambda: DelayedAcceptanceMC(TiltedWell(), double_well(), temperature_K=TEMPERATURE_K, step_size=0.7,
                                mode="all", axes=(0,), adapt_sweeps=20, seed=5),
    lambda: NestedMC(TiltedWell(), double_well(), temperature_K=TEMPERATURE_K, inner_steps=3, step_size=0.7,
                     mode="single", axes=(0,), adapt_sweeps=20, seed=5),
], ids=["delayed_acceptance", "nested"])
def test_resume_from_a_checkpoint_is_exact(make, tmp_path):
    system, _ = oscillator_1d("double_well", x0=1.0)
    straight = Simulation(system.copy(), make())
    straight.run(120)
    split = Simulation(system.copy(), make())
    split.run(50)
    split.save_checkpoint(tmp_path / "mc.npz")
    split.run(70)  # the killed run's future, discarded
    resumed = Simulation.from_checkpoint(tmp_path / "mc.npz", make())
    resumed.run(70)
    assert resumed.step == 120
    assert np.array_equal(resumed.system.positions, straight.system.positions)
    a, b = straight.integrator, resumed.integrator
    assert (a.reference_calls, a.energy, a.accepted, a.attempted) == (b.reference_calls, b.energy, b.accepted,
                                                                     b.attempted)
    assert a.last_result.energy == b.last_result.energy
    assert b.last_result.energy == pytest.approx(reference_energy(resumed.system.positions[0, 0]), abs=1e-12)


def test_integrated_time_of_an_ar1_series():
    rng = np.random.default_rng(0)
    phi = 0.8
    x = np.empty(50000)
    x[0] = 0.0
    noise = rng.normal(size=len(x))
    for t in range(1, len(x)):
        x[t] = phi * x[t - 1] + noise[t]
    expected = (1 + phi) / (1 - phi)  # 1 + 2 Σ φ^t
    assert integrated_time(x) == pytest.approx(expected, rel=0.2)  # the windowed estimate's noise is ~7 %
    assert integrated_time(rng.normal(size=5000)) == pytest.approx(1.0, abs=0.15)


def test_parameter_errors():
    with pytest.raises(InputError, match="inner_steps"):
        NestedMC(TiltedWell(), double_well(), temperature_K=300.0, inner_steps=0, seed=1)
    with pytest.raises(TypeError, match="surrogate"):
        DelayedAcceptanceMC(object(), double_well(), temperature_K=300.0, seed=1)
    with pytest.raises(TypeError, match="reference"):
        NestedMC(TiltedWell(), object(), temperature_K=300.0, seed=1)
