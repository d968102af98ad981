"""physical-validation of the thermostats and of velocity Verlet, and RATTLE's bond-length error (issue #14).

Rows (value 1 = pass, 0 = fail, target 1; pass criteria as in
tests/integrators/test_physical_validation.py, since the package leaves them
to the user):

- Langevin BAOAB and Bussi kinetic-energy distribution: Kolmogorov–Smirnov
  p ≥ 0.05 (``physical_validation.kinetic_energy.distribution(strict=True)``)
  on 32-atom fcc argon at 40 K (Lennard-Jones cut at 5.85 Å, between neighbor
  shells); the mean/width test (distance of T(μ), T(σ) in standard errors) is a figure;
- ensemble check between two temperatures (8-atom argon crystal, NVT potential
  energies): slope within 3 quantiles of the true one. Langevin BAOAB at 30 and
  50 K, 10 fs; Bussi at 55 and 70 K, 5 fs. Bussi's velocity-Verlet core samples
  configurations with an O(Δ²) error that BAOAB's splitting largely avoids: at
  10 fs and 400 ps per temperature Bussi gave 2.3, 2.5, 2.6 quantiles at 30/50 K
  (three seeds) and 2.50 at 55/70 K (1.2 with another seed), at 5 fs 1.69 at
  55/70 K (Langevin at 10 fs: 0.37), an offset that more samples would turn
  into a failure at 10 fs;
- velocity Verlet convergence: the conserved energy's fluctuation ratios within
  10 % of Δ² over Δ = 8, 4, 2 (, 1) fs (``physical_validation.integrator.convergence``);
  the measured order is a figure;
- RATTLE max bond-length error over a Langevin run of 27 charge-free flexible
  waters (81 atoms, O–H rigid, 1 fs, 300 K): goal ≤ 1e-10 Å. A figure: the
  kinetic-energy KS test of a constrained run (8 waters, rigid O–H, fixed COM),
  whose N_f comes from the constraints.

    python -m benchmarks.engine_validation --quick    # < 40 s on a quiet core
    python -m benchmarks.engine_validation            # longer runs, more samples
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import target  # noqa: E402

CUTOFF = 5.85  # Å, between the fcc argon shells at 5.26 and 6.44 Å: no pair crosses it at ≤ 50 K
P_MIN = 0.05
MAX_QUANTILES = 3.0
MAX_DEVIATION = 0.1


def _argon():
    from systems.potentials import LennardJones

    return LennardJones.argon(cutoff=CUTOFF)


def kinetic_energy_check(kind: str, n_steps: int) -> dict:
    """KS p-value and mean/width distances of one thermostat's kinetic energies (32-atom argon, 40 K)."""
    import physical_validation as pv

    from integrators import Bussi, LangevinBAOAB
    from integrators.validation import nvt_data, sample
    from systems.catalogue import argon_fcc

    temperature = 40.0
    system = argon_fcc(2, temperature_K=temperature, seed=11)
    if kind == "langevin":
        integrator = LangevinBAOAB(_argon(), timestep_fs=5.0, temperature_K=temperature, friction_per_fs=0.02, seed=12)
    else:
        integrator = Bussi(_argon(), timestep_fs=5.0, temperature_K=temperature, tau_fs=50.0, seed=12)
    sample(integrator, system, 200)
    samples = sample(integrator, system, n_steps, 2)
    data = nvt_data(samples, temperature)
    p = float(pv.kinetic_energy.distribution(data, strict=True, verbosity=0))
    d_mu, d_sigma = pv.kinetic_energy.distribution(data, strict=False, verbosity=0, bootstrap_seed=1)
    return {"p_value": p, "T_mean_distance_sigma": float(d_mu), "T_width_distance_sigma": float(d_sigma),
            "degrees_of_freedom": samples.degrees_of_freedom, "samples": len(samples.kinetic), "steps": n_steps,
            "passed": p >= P_MIN}


def ensemble_check(kind: str, n_steps: int, temperatures_K=(30.0, 50.0), timestep_fs: float = 10.0) -> dict:
    """physical_validation.ensemble.check of NVT potential energies at two temperatures (8 argon atoms)."""
    import physical_validation as pv

    from integrators import Bussi, LangevinBAOAB
    from integrators.validation import nvt_data, sample
    from systems.catalogue import argon_fcc

    data = []
    for temperature, seed in zip(temperatures_K, (3, 4)):
        system = argon_fcc((2, 1, 1), temperature_K=temperature, seed=seed)
        if kind == "langevin":
            integrator = LangevinBAOAB(_argon(), timestep_fs=timestep_fs, temperature_K=temperature,
                                       friction_per_fs=0.01, seed=seed + 10)
        else:
            integrator = Bussi(_argon(), timestep_fs=timestep_fs, temperature_K=temperature, tau_fs=50.0,
                               seed=seed + 10)
        sample(integrator, system, 200)
        interval = max(1, int(round(40.0 / timestep_fs)))  # a sample every 40 fs
        data.append(nvt_data(sample(integrator, system, n_steps, interval), temperature))
    quantiles = [float(q) for q in pv.ensemble.check(data[0], data[1], verbosity=0)]
    return {"quantiles": quantiles, "temperatures_K": list(temperatures_K), "steps_each": n_steps,
            "timestep_fs": timestep_fs,
            "passed": max(abs(q) for q in quantiles) < MAX_QUANTILES}


def verlet_convergence(timesteps_fs) -> dict:
    """Max deviation of the conserved-energy fluctuation ratios from Δ², and the fitted order (32 argon, 20 K)."""
    import physical_validation as pv

    from integrators import LangevinBAOAB, VelocityVerlet
    from integrators.validation import convergence_order, nve_data, sample
    from systems.catalogue import argon_fcc

    start = argon_fcc(2, temperature_K=20.0, seed=7)
    sample(LangevinBAOAB(_argon(), timestep_fs=5.0, temperature_K=20.0, friction_per_fs=0.05, seed=7), start, 200)
    runs = [sample(VelocityVerlet(_argon(), timestep_fs=dt), start.copy(), int(round(800 / dt)))
            for dt in timesteps_fs]
    deviation = float(pv.integrator.convergence([nve_data(r, dt) for r, dt in zip(runs, timesteps_fs)], verbose=False))
    stds = [float(r.conserved.std()) for r in runs]
    return {"max_deviation": deviation, "order": convergence_order(timesteps_fs, stds),
            "timesteps_fs": list(timesteps_fs),
            "conserved_std_eV": stds, "passed": deviation < MAX_DEVIATION}


def rattle_error(n_steps: int) -> dict:
    """Largest |r_ij| − d (Å) and |v_ij·r_ij| over every step of a constrained Langevin water run."""
    from integrators import LangevinBAOAB
    from integrators.constraints import Constraints
    from systems.constraint_bonds import hydrogen_bonds_from_radii
    from systems.toy_water import ToyWaterPotential, water_box

    system, molecules = water_box(3, seed=0)
    constraints = Constraints.for_system(system, bonds=hydrogen_bonds_from_radii(system))
    integrator = LangevinBAOAB(ToyWaterPotential(molecules), timestep_fs=1.0, temperature_K=300.0,
                               friction_per_fs=0.01, seed=1, constraints=constraints)
    integrator.initialize(system)
    worst_length = worst_velocity = 0.0
    start = time.perf_counter()
    for _ in range(n_steps):
        integrator.step(system)
        dl, dv = constraints.bond_errors(system)
        worst_length = max(worst_length, float(np.abs(dl).max()))
        worst_velocity = max(worst_velocity, float(np.abs(dv).max()))
    return {"max_bond_length_error_A": worst_length, "max_velocity_constraint_A2_per_time": worst_velocity,
            "bonds": len(constraints.bonds), "atoms": system.n_atoms, "steps": n_steps,
            "ms_per_step_incl_checks": 1e3 * (time.perf_counter() - start) / n_steps,
            "degrees_of_freedom": integrator.degrees_of_freedom(system)}


def constrained_kinetic_energy(n_steps: int) -> dict:
    """KS p-value of a rigid-O–H Langevin run's kinetic energies, N_f = 3N − bonds − 3 (fixed COM), 8 waters."""
    import physical_validation as pv

    from integrators import LangevinBAOAB
    from integrators.constraints import Constraints
    from integrators.validation import nvt_data, sample
    from systems.constraint_bonds import hydrogen_bonds_from_radii
    from systems.toy_water import ToyWaterPotential, water_box

    system, molecules = water_box(2, seed=3)
    constraints = Constraints.for_system(system, fix_com=True, bonds=hydrogen_bonds_from_radii(system))
    integrator = LangevinBAOAB(ToyWaterPotential(molecules), timestep_fs=1.0, temperature_K=300.0,
                               friction_per_fs=0.05, seed=4, constraints=constraints)
    sample(integrator, system, 200)
    samples = sample(integrator, system, n_steps, 2)
    p = float(pv.kinetic_energy.distribution(nvt_data(samples, 300.0), strict=True, verbosity=0))
    return {"p_value": p, "degrees_of_freedom": samples.degrees_of_freedom, "atoms": system.n_atoms,
            "steps": n_steps, "passed": p >= P_MIN}


def run(quick: bool) -> tuple[dict, list[dict]]:
    """(figures, targets) of this part; ``quick`` < 40 s on a quiet core."""
    import numba

    numba.set_num_threads(1)  # tiny systems: a thread pool only waits
    figures: dict = {"quick": quick}
    start = time.perf_counter()
    ke_steps = 2400 if quick else 20000
    figures["langevin_kinetic_energy"] = kinetic_energy_check("langevin", ke_steps)
    figures["bussi_kinetic_energy"] = kinetic_energy_check("bussi", ke_steps)
    figures["langevin_ensemble_check"] = ensemble_check("langevin", 6000 if quick else 40000)
    # Bussi at 55 and 70 K and 5 fs: see the module docstring
    figures["bussi_ensemble_check"] = ensemble_check("bussi", 12000 if quick else 80000, (55.0, 70.0), 5.0)
    figures["verlet_convergence"] = verlet_convergence((8.0, 4.0, 2.0) if quick else (8.0, 4.0, 2.0, 1.0))
    figures["rattle"] = rattle_error(500 if quick else 5000)
    figures["constrained_langevin_kinetic_energy"] = constrained_kinetic_energy(2000 if quick else 20000)
    figures["wall_s"] = time.perf_counter() - start
    pv_rows = [("physical-validation: Langevin kinetic-energy distribution", "langevin_kinetic_energy"),
               ("physical-validation: Bussi kinetic-energy distribution", "bussi_kinetic_energy"),
               ("physical-validation: ensemble check (two temperatures), Langevin BAOAB", "langevin_ensemble_check"),
               ("physical-validation: ensemble check (two temperatures), Bussi", "bussi_ensemble_check"),
               ("physical-validation: velocity Verlet convergence order", "verlet_convergence")]
    targets = [target(name, 1.0 if figures[key]["passed"] else 0.0, 1.0, "higher") for name, key in pv_rows]
    targets.append(target("constraints: RATTLE max bond-length error (Å)",
                          figures["rattle"]["max_bond_length_error_A"], 1e-10, "lower"))
    return figures, targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (< 40 s on a quiet core)")
    args = parser.parse_args(argv)
    figures, targets = run(args.quick)
    import json

    print(json.dumps(figures, indent=1, default=float))
    print(f"\n{'target':<62} {'value':>10} {'goal':>10}  met")
    for t in targets:
        print(f"{t['name']:<62} {t['value']:>10.3g} {t['target']:>10.3g}  {'yes' if t['met'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
