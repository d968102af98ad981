"""NPT rows of the engine benchmark (issue #14): LJ argon density against OpenMM's MonteCarloBarostat, volume
fluctuations against the compressibility of a separate run, and physical-validation's NPT checks.

    python -m benchmarks.engine_npt [--quick]

``run(quick)`` returns (figures, targets); the aggregator (benchmarks/engine.py) writes the JSON.
Quick: 128 atoms, 80 ps per engine (about 40 s on a quiet core). Full: 256 atoms, 400 ps per engine and
both barostats (a few minutes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import npt_argon as A
from benchmarks._common import target

#: physical-validation reports distances in standard errors (kinetic energy) or quantiles (ensemble check);
#: a check passes below this many.
PV_THRESHOLD = 3.0


def _block(series, n_blocks=20):
    x = np.asarray(series, dtype=np.float64)
    size = len(x) // n_blocks
    blocks = x[: size * n_blocks].reshape(n_blocks, size).mean(axis=1)
    return float(blocks.mean()), float(blocks.std(ddof=1) / np.sqrt(n_blocks))


def _variance_error(series, n_blocks=20):
    """Variance of ``series`` and its standard error from block variances."""
    x = np.asarray(series, dtype=np.float64)
    size = len(x) // n_blocks
    blocks = x[: size * n_blocks].reshape(n_blocks, size)
    block_var = ((blocks - x.mean()) ** 2).mean(axis=1)
    return float(x.var()), float(block_var.std(ddof=1) / np.sqrt(n_blocks))


def density_rows(quick: bool) -> tuple[dict, list[dict]]:
    """Our C-rescale (and, full, our MC barostat) against OpenMM's MonteCarloBarostat: mean density and the
    volume fluctuations against the compressibility measured from the density change of a separate run."""
    from systems import units

    n_atoms, n_prod = (128, 8000) if quick else (256, 40000)
    t0 = time.perf_counter()
    start = A.run_ours(A.start(n_atoms, seed=0), "crescale", n_equil=1500, n_prod=0, seed=9)["system"]
    runs = {"crescale": A.run_ours(start, "crescale", n_equil=0, n_prod=n_prod, every=10, seed=1)}
    if not quick:
        runs["mc"] = A.run_ours(start, "mc", n_equil=0, n_prod=n_prod, every=10, seed=2)
    openmm_run = A.run_openmm(start, n_equil=0, n_prod=n_prod, every=10, seed=1, barostat_interval=5)
    figures = {"n_atoms": n_atoms, "production_ps_each": n_prod * A.TIMESTEP_FS / 1000.0,
               "temperature_K": A.TEMPERATURE_K, "pressure_bar": A.PRESSURE_BAR, "cutoff_A": A.CUTOFF}
    ref_mean, ref_err = _block(A.density(openmm_run["volume"], start))
    figures["openmm_density_g_cm3"] = [ref_mean, ref_err]
    targets = []
    for name, run in runs.items():
        mean, err = _block(A.density(run["volume"], start))
        sigma = float(np.hypot(err, ref_err))
        label = {"crescale": "C-rescale", "mc": "MC barostat"}[name]
        figures[f"{name}_density_g_cm3"] = [mean, err]
        targets.append(target(f"NPT LJ argon density vs OpenMM MonteCarloBarostat (1 bar, 94.4 K), {label}: "
                              "relative difference", abs(mean - ref_mean) / ref_mean, 0.01, "lower"))
        targets.append(target(f"NPT LJ argon density vs OpenMM MonteCarloBarostat (1 bar, 94.4 K), {label}: "
                              "difference in σ", abs(mean - ref_mean) / sigma, 3.0, "lower"))

    # fluctuations: β_T from var(V)/(k_B T <V>) of the C-rescale run against β_T = −Δln<V>/ΔP of a separate
    # run at a higher pressure (finite difference over ΔP)
    kt = units.kB * A.TEMPERATURE_K
    vol = runs["crescale"]["volume"]
    var, var_err = _variance_error(vol)
    v_mean, v_err = _block(vol)
    beta_fluct = var / (kt * v_mean)
    beta_fluct_err = beta_fluct * np.hypot(var_err / var, v_err / v_mean)
    dp_bar = 100.0
    high = A.run_ours(start, "crescale", n_equil=500, n_prod=n_prod, every=10, seed=3, pressure_bar=A.PRESSURE_BAR + dp_bar)
    v_high, v_high_err = _block(high["volume"])
    dp = dp_bar * units.bar
    beta_response = -np.log(v_high / v_mean) / dp
    beta_response_err = np.hypot(v_err / v_mean, v_high_err / v_high) / dp
    figures["compressibility_from_fluctuations_per_bar"] = [float(beta_fluct * units.bar),
                                                            float(beta_fluct_err * units.bar)]
    figures["compressibility_from_pressure_response_per_bar"] = [float(beta_response * units.bar),
                                                                 float(beta_response_err * units.bar)]
    figures["pressure_response_delta_bar"] = dp_bar
    targets.append(target("NPT volume fluctuations vs compressibility from a separate run (C-rescale): difference in σ",
                          float(abs(beta_fluct - beta_response) / np.hypot(beta_fluct_err, beta_response_err)), 3.0,
                          "lower"))
    figures["density_wall_s"] = time.perf_counter() - t0
    return figures, targets


#: The volume ensemble check's barostat settings on the dilute gas (compressibility 1/P, the gas's own).
PV_BAROSTATS = {"mc": dict(interval=1, step_fraction=0.1, adapt_attempts=300),
                "crescale": dict(interval=1, tau_p_fs=100.0, compressibility_per_bar=1.0 / 50.0)}


def physical_validation_rows(quick: bool) -> tuple[dict, list[dict]]:
    """physical-validation's NPT checks (pass = 1): the kinetic-energy distribution of liquid argon under each
    barostat, and the ensemble check of the volume distributions at two pressures on the dilute gas."""
    t0 = time.perf_counter()
    figures, targets = {}, []
    labels = {"crescale": "C-rescale", "mc": "MC barostat"}
    for kind in ("crescale", "mc"):
        kinetic = A.kinetic_energy_check(64, barostat=kind, n_prod=4000 if quick else 20000)
        figures[f"physical_validation_kinetic_energy_{kind}_sigmas"] = list(kinetic)
        targets.append(target(f"physical-validation NPT kinetic-energy distribution ({labels[kind]}, LJ argon liquid)",
                              float(max(abs(x) for x in kinetic) < PV_THRESHOLD), 1.0, "higher"))
    for kind in (("mc",) if quick else ("mc", "crescale")):
        n_prod = {"mc": 6000 if quick else 12000, "crescale": 30000}[kind]  # crescale (full only): ~2 min
        quantiles = A.volume_ensemble_check(64, barostat=kind, n_prod=n_prod, **PV_BAROSTATS[kind])
        figures[f"physical_validation_volume_{kind}_quantiles"] = quantiles
        targets.append(target(f"physical-validation NPT volume ensemble check, two pressures ({labels[kind]}, "
                              "argon gas)", float(max(abs(q) for q in quantiles) < PV_THRESHOLD), 1.0, "higher"))
    figures["physical_validation_wall_s"] = time.perf_counter() - t0
    return figures, targets


def run(quick: bool) -> tuple[dict, list[dict]]:
    figures, targets = density_rows(quick)
    more_figures, more_targets = physical_validation_rows(quick)
    figures.update(more_figures)
    return figures, targets + more_targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    figures, targets = run(args.quick)
    for key, value in figures.items():
        print(f"{key}: {value}")
    for row in targets:
        print(f"{'met ' if row['met'] else 'MISS'}  {row['value']:.4g} (goal {row['target']:g}, {row['better']})  "
              f"{row['name']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
