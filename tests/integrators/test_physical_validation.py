"""physical-validation checks of the thermostats and of velocity Verlet (issue #14, Deliver 4).

Small argon crystals (Lennard-Jones cut at 5.85 Å, between the second and
third neighbor shells, so at these temperatures no pair crosses the cutoff and
the dynamics is smooth). Pass criteria (the package leaves them to the user):
the Kolmogorov–Smirnov p-value of the kinetic-energy distribution ≥ 0.05; the
ensemble check's slope within 3 quantiles of the true one; the conserved
energy's fluctuation ratios within 10 % of Δ². Each test also shows that the
same check fails on a wrong input (a mislabelled temperature, a force
discontinuity), so none can pass vacuously.
"""

import pytest

pv = pytest.importorskip("physical_validation")

from integrators import Bussi, LangevinBAOAB, VelocityVerlet  # noqa: E402
from integrators.validation import convergence_order, nve_data, nvt_data, sample  # noqa: E402
from systems.catalogue import argon_fcc  # noqa: E402
from systems.potentials import LennardJones  # noqa: E402

CUTOFF = 5.85  # Å, between the fcc shells at 5.26 and 6.44 Å
P_MIN = 0.05
MAX_QUANTILES = 3.0
MAX_DEVIATION = 0.1


def _argon():
    return LennardJones.argon(cutoff=CUTOFF)


def _kinetic_p(samples, temperature_K):
    return pv.kinetic_energy.distribution(nvt_data(samples, temperature_K), strict=True, verbosity=0)


@pytest.mark.parametrize("kind", ["langevin", "bussi"])
def test_kinetic_energy_distribution_is_maxwell_boltzmann(kind):
    temperature = 40.0
    system = argon_fcc(2, temperature_K=temperature, seed=11)
    if kind == "langevin":
        integrator = LangevinBAOAB(_argon(), timestep_fs=5.0, temperature_K=temperature, friction_per_fs=0.02, seed=12)
    else:
        integrator = Bussi(_argon(), timestep_fs=5.0, temperature_K=temperature, tau_fs=50.0, seed=12)
    sample(integrator, system, 200)  # equilibrate
    samples = sample(integrator, system, 2400, 2)
    assert samples.degrees_of_freedom == (96 if kind == "langevin" else 93)
    p = _kinetic_p(samples, temperature)
    assert p >= P_MIN, p
    # the same data claimed at a temperature 10 % off fails the same criterion: the check has power
    assert _kinetic_p(samples, 1.1 * temperature) < P_MIN


def test_langevin_ensemble_check_between_two_temperatures():
    """Boltzmann ratio of the potential-energy distributions at 30 K and 50 K (8 atoms)."""
    runs = []
    for temperature, seed in ((30.0, 3), (50.0, 4)):
        system = argon_fcc((2, 1, 1), temperature_K=temperature, seed=seed)
        integrator = LangevinBAOAB(_argon(), timestep_fs=10.0, temperature_K=temperature, friction_per_fs=0.01,
                                   seed=seed + 10)
        sample(integrator, system, 200)
        runs.append((sample(integrator, system, 6000, 4), temperature))
    quantiles = pv.ensemble.check(nvt_data(*runs[0]), nvt_data(*runs[1]), verbosity=0)
    assert max(abs(q) for q in quantiles) < MAX_QUANTILES, quantiles
    # a thermostat that sampled 50 K when asked for 38 K fails the same check (≈ 4 quantiles off)
    wrong = pv.ensemble.check(nvt_data(*runs[0]), nvt_data(runs[1][0], 38.0), verbosity=0)
    assert max(abs(q) for q in wrong) > MAX_QUANTILES, wrong


def _verlet_runs(cutoff, temperature, timesteps_fs=(8.0, 4.0, 2.0)):
    start = argon_fcc(2, temperature_K=temperature, seed=7)
    sample(LangevinBAOAB(LennardJones.argon(cutoff=cutoff), timestep_fs=5.0, temperature_K=temperature,
                         friction_per_fs=0.05, seed=7), start, 200)
    runs = []
    for dt in timesteps_fs:
        integrator = VelocityVerlet(LennardJones.argon(cutoff=cutoff), timestep_fs=dt)
        runs.append(sample(integrator, start.copy(), int(round(800 / dt))))  # the same 800 fs each
    return runs


def test_velocity_verlet_conserved_energy_converges_as_dt_squared():
    timesteps = (8.0, 4.0, 2.0)
    runs = _verlet_runs(CUTOFF, 20.0, timesteps)
    deviation = pv.integrator.convergence([nve_data(r, dt) for r, dt in zip(runs, timesteps)], verbose=False)
    assert deviation < MAX_DEVIATION, deviation
    assert abs(convergence_order(timesteps, [r.conserved.std() for r in runs]) - 2.0) < 0.1
    # a cutoff at 6.0 Å, which pairs cross at 40 K, makes the force jump; the same check sees it
    bad = _verlet_runs(6.0, 40.0, timesteps)
    assert pv.integrator.convergence([nve_data(r, dt) for r, dt in zip(bad, timesteps)], verbose=False) > MAX_DEVIATION


def test_constrained_langevin_kinetic_energy_distribution_counts_the_constraints():
    """8 flexible waters with rigid O–H bonds and a fixed centre of mass: N_f = 3N − 16 − 3 = 53."""
    from integrators.constraints import Constraints
    from systems.constraint_bonds import hydrogen_bonds_from_radii
    from systems.toy_water import ToyWaterPotential, water_box

    system, molecules = water_box(2, seed=3)
    constraints = Constraints.for_system(system, fix_com=True, bonds=hydrogen_bonds_from_radii(system))
    integrator = LangevinBAOAB(ToyWaterPotential(molecules), timestep_fs=1.0, temperature_K=300.0,
                               friction_per_fs=0.05, seed=4, constraints=constraints)
    sample(integrator, system, 200)
    samples = sample(integrator, system, 2000, 2)
    assert samples.degrees_of_freedom == 53
    assert _kinetic_p(samples, 300.0) >= P_MIN
    # counting 3N − 3 instead, as without constraints, fails the same test
    assert _kinetic_p(samples._replace(degrees_of_freedom=3 * system.n_atoms - 3), 300.0) < P_MIN
