"""Exact surrogate-accelerated MC (issue #12, deliverable 5): exactness and reference calls per effective sample.

System: 64 liquid-argon atoms at 94.4 K, 1.374 g/cm³. Reference: Lennard-Jones argon (σ 3.405 Å,
ε 0.0103 eV, cut and shifted at 7 Å), cheap enough to sample well. Surrogate: a deliberately imperfect
Lennard-Jones (σ +1 %, ε −4 %); plain MC on it samples a visibly different ⟨E⟩.

Exactness: the reference energy's mean and variance and the RDF from nested-chain MC (10 surrogate sweeps
per reference call) against a long reference-only MC, each block-averaged (20 blocks); the rows give the
largest |difference| / σ_difference (goal ≤ 3).

Efficiency: reference calls per effective sample = calls / (samples / τ), τ the integrated autocorrelation
time of the reference energy (:mod:`integrators.autocorrelation`). Reference-only MC with an expensive
reference has no local ΔE: a single-particle sweep costs N full calls, an all-particle move one; the
baseline is the better of the two. Goal: the baseline / accelerated ratio ≥ 10.

Usage: python -m benchmarks.trust_mc [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

N_ATOMS = 64
TEMPERATURE_K = 94.4
CUTOFF = 7.0
INNER_STEPS = 10
RDF_BINS = np.linspace(3.0, 7.0, 17)  # Å; below 3 Å g(r) is 0 at this temperature


def _providers():
    from systems.potentials import LennardJones

    reference = LennardJones(3.405, 0.0103, cutoff=CUTOFF, skin=1.0)
    surrogate = LennardJones(3.405 * 1.01, 0.0103 * 0.96, cutoff=CUTOFF, skin=1.0)
    return reference, surrogate


def _start(seed: int):
    """An equilibrated configuration from reference-only MC (fast path)."""
    from integrators import MetropolisMC, Simulation
    from systems.catalogue import liquid_argon

    reference, _ = _providers()
    system = liquid_argon(N_ATOMS, seed=seed)
    mc = MetropolisMC(reference, temperature_K=TEMPERATURE_K, step_size=0.3, seed=seed, adapt_sweeps=200)
    Simulation(system, mc).run(1500)
    return system


def _rdf_counts(positions, length) -> np.ndarray:
    """Pair-distance histogram over RDF_BINS (minimum image, cubic box of side ``length`` Å)."""
    d = positions[:, None, :] - positions[None, :, :]
    d -= length * np.round(d / length)
    r = np.sqrt((d**2).sum(-1))[np.triu_indices(len(positions), 1)]
    return np.histogram(r, bins=RDF_BINS)[0].astype(np.float64)


def _sample(integrator, system, n_steps: int, every: int, reference):
    """Run ``n_steps`` steps; every step the reference energy (eV), every ``every`` steps the RDF histogram."""
    from integrators import Simulation

    sim = Simulation(system, integrator)
    sim.run(0)
    length = float(system.cell[0, 0])
    energies, rdfs = np.empty(n_steps), []
    start = time.perf_counter()
    for k in range(n_steps):
        integrator.step(system)
        energies[k] = integrator.energy
        if k % every == 0:
            rdfs.append(_rdf_counts(system.positions, length))
    wall = time.perf_counter() - start
    assert abs(integrator.energy - reference.compute(system).energy) < 1e-8  # the tracked energy is the reference's
    return energies, np.array(rdfs), wall


def _blocks(x, n_blocks=20):
    x = np.asarray(x, dtype=np.float64)
    size = len(x) // n_blocks
    return x[: size * n_blocks].reshape(n_blocks, size, *x.shape[1:])


def _block_stats(x, n_blocks=20):
    """(mean, standard error) of the mean over ``n_blocks`` contiguous blocks (per column for 2D ``x``)."""
    means = _blocks(x, n_blocks).mean(axis=1)
    return means.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(n_blocks)


def _variance_stats(x, n_blocks=20):
    """(variance, its standard error) from per-block variances."""
    v = _blocks(x, n_blocks).var(axis=1, ddof=1)
    return v.mean(), v.std(ddof=1) / np.sqrt(n_blocks)


def _z(a, b):
    (ma, sa), (mb, sb) = a, b
    return np.abs(ma - mb) / np.sqrt(sa**2 + sb**2)


def run(quick: bool) -> tuple[dict, list[dict]]:
    """Measure exactness and efficiency; returns (figures, targets)."""
    from benchmarks._common import target
    from integrators import DelayedAcceptanceMC, MetropolisMC, NestedMC
    from integrators.autocorrelation import integrated_time

    reference, surrogate = _providers()
    n_ref, n_nested, n_all, n_da = (14000, 1500, 5000, 800) if quick else (200000, 15000, 100000, 15000)
    start = _start(seed=1)

    # reference-only MC, single-particle sweeps (the Numba fast path computes them cheaply here; an expensive
    # reference would pay N full calls per sweep)
    ref_mc = MetropolisMC(reference, temperature_K=TEMPERATURE_K, step_size=0.3, seed=2, adapt_sweeps=200)
    e_ref, rdf_ref, wall_ref = _sample(ref_mc, start.copy(), n_ref, 10, reference)
    tau_sweep = integrated_time(e_ref)
    calls_single = N_ATOMS * tau_sweep  # per effective sample

    # reference-only MC, all-particle moves: one full call each
    all_mc = MetropolisMC(reference, temperature_K=TEMPERATURE_K, step_size=0.05, mode="all", seed=3,
                          target_acceptance=0.3, adapt_sweeps=500)
    e_all, _, _ = _sample(all_mc, start.copy(), n_all, n_all, reference)
    tau_all = integrated_time(e_all)
    calls_all = tau_all
    baseline = min(calls_single, calls_all)

    # nested-chain MC: INNER_STEPS surrogate sweeps per reference call
    nested = NestedMC(surrogate, reference, temperature_K=TEMPERATURE_K, inner_steps=INNER_STEPS, step_size=0.3,
                      seed=4, adapt_sweeps=200)
    e_nested, rdf_nested, wall_nested = _sample(nested, start.copy(), n_nested, 1, reference)
    tau_nested = integrated_time(e_nested)
    calls_nested = nested.production_reference_calls / (len(e_nested) / tau_nested)

    # delayed acceptance (all-particle moves): a figure, the surrogate screening every proposal
    da = DelayedAcceptanceMC(surrogate, reference, temperature_K=TEMPERATURE_K, step_size=0.05, mode="all", seed=5,
                             target_acceptance=0.3, adapt_sweeps=500)
    e_da, _, _ = _sample(da, start.copy(), n_da, n_da, reference)
    calls_da = da.production_reference_calls / (len(e_da) / integrated_time(e_da))

    # plain MC on the surrogate alone, for contrast: its reference energy is off
    sur_mc = MetropolisMC(surrogate, temperature_K=TEMPERATURE_K, step_size=0.3, seed=6, adapt_sweeps=200)
    system = start.copy()
    from integrators import Simulation

    sim = Simulation(system, sur_mc)
    sim.run(300)
    e_sur = []
    for _ in range(n_nested // 2):
        sim.run(INNER_STEPS)
        e_sur.append(reference.compute(system).energy)

    z_mean = float(_z(_block_stats(e_nested), _block_stats(e_ref)))
    z_var = float(_z(_variance_stats(e_nested), _variance_stats(e_ref)))
    z_rdf = float(np.max(_z(_block_stats(rdf_nested), _block_stats(rdf_ref))))
    z_sur = float(_z(_block_stats(e_sur), _block_stats(e_ref)))
    ratio = baseline / calls_nested
    figures = {
        "system": f"{N_ATOMS} LJ argon atoms, {TEMPERATURE_K} K, reference LJ cut at {CUTOFF} Å; "
                  "surrogate σ+1 %, ε−4 %",
        "inner_steps": INNER_STEPS,
        "reference_mean_energy_eV": float(np.mean(e_ref)), "nested_mean_energy_eV": float(np.mean(e_nested)),
        "surrogate_only_mean_reference_energy_eV": float(np.mean(e_sur)),
        "surrogate_only_mean_energy_deviation_sigma": z_sur,
        "tau_reference_single_sweeps": tau_sweep, "tau_reference_all_moves": tau_all,
        "tau_nested_outer_steps": tau_nested,
        "reference_calls_per_effective_sample": {"reference_only_single": calls_single,
                                                 "reference_only_all": calls_all, "nested": calls_nested,
                                                 "delayed_acceptance": calls_da},
        "nested_outer_acceptance": nested.outer_rate, "nested_inner_acceptance": nested.inner_rate,
        "da_stage1_acceptance": da.stage1_rate, "da_stage2_acceptance": da.stage2_rate,
        "delayed_acceptance_efficiency_ratio": baseline / calls_da,
        # the DA chain is short and slow to decorrelate (all-particle moves): a loose check, not a row
        "delayed_acceptance_mean_energy_deviation_sigma": float(_z(_block_stats(e_da), _block_stats(e_ref))),
        "samples": {"reference_only_sweeps": n_ref, "nested_outer_steps": n_nested, "all_moves": n_all,
                    "da_moves": n_da},
        "wall_s": {"reference_only": wall_ref, "nested": wall_nested},
    }
    targets = [
        target("exact MC: nested ⟨E⟩ vs reference-only MC (|Δ|/σ)", z_mean, 3.0, "lower"),
        target("exact MC: nested Var(E) vs reference-only MC (|Δ|/σ)", z_var, 3.0, "lower"),
        target("exact MC: nested RDF vs reference-only MC (max bin |Δ|/σ)", z_rdf, 3.0, "lower"),
        target("exact MC: reference calls per effective sample, reference-only / nested", ratio, 10.0, "higher"),
    ]
    return figures, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter chains (under ~40 s on a quiet core)")
    args = parser.parse_args()
    import json

    from benchmarks._common import write_result

    start = time.perf_counter()
    figures, targets = run(args.quick)
    figures["benchmark_wall_s"] = time.perf_counter() - start
    print(json.dumps(figures, indent=1, default=float))
    write_result("trust_mc", figures, targets)  # the command line records --quick


if __name__ == "__main__":
    main()
