"""MD engine speed: Lennard-Jones argon NVE, our Verlet + Numba LJ vs ASE and OpenMM CPU (2 threads).

σ 3.405 Å, ε 0.0103 eV, cutoff 8.5 Å, 5 fs, FCC argon (a = 5.26 Å, 0.05 Å jitter,
Maxwell–Boltzmann 60 K) at N = 500, 4000, 32000. Every engine runs in this
process on the same configuration and is timed as the median of 3 runs; the script
prints steps/s and the ratios. Precision differs: ours is float64 throughout, ASE
float64, OpenMM's CPU platform mixed precision (single-precision forces; it offers no
double precision), recorded in the JSON figures. The anchor is OpenMM (a target:
at least its speed at N ≥ 4000); the ratio to ASE is a figure (the early "100× ASE"
target is retired: OpenMM itself runs 40–60× ASE on the 2-core machine).
Then a long run with every reporter on (xtc, extxyz, thermo CSV, checkpoints,
progress, runaway guard) checks that the resident memory stays flat.

    python benchmarks/md_engine.py --quick    # < 2 min: N = 500 and 4000, few steps, 5000-step memory run
    python benchmarks/md_engine.py            # N up to 32000, 10⁵-step memory run
"""

from __future__ import annotations

import os

# The OpenMP wait policy is left as the user has it (GNU's default spins briefly
# after each parallel region): OMP_WAIT_POLICY=PASSIVE was measured 3× slower at
# N = 500 (a sleeping thread pool wakes for every kernel); it only helps on an
# oversubscribed machine.

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import target, write_result  # noqa: E402
from integrators import (  # noqa: E402
    CheckpointReporter,
    ProgressReporter,
    RunawayGuard,
    Simulation,
    ThermoLogReporter,
    TrajectoryReporter,
    VelocityVerlet,
)
from integrators.reporters.base import IntervalReporter  # noqa: E402
from systems import units  # noqa: E402
from systems.catalogue import argon_fcc  # noqa: E402
from systems.units import KJ_MOL_PER_EV  # noqa: E402
from systems.potentials import ARGON_EPSILON, ARGON_SIGMA, LennardJones  # noqa: E402

CUTOFF = 8.5  # Å
TIMESTEP_FS = 5.0
SIZES = {500: 5, 4000: 10, 32000: 20}  # N -> FCC repeat


def make_system(n_atoms: int):
    return argon_fcc(SIZES[n_atoms], jitter=0.05, seed=0, temperature_K=60.0)


def ours(system, n_steps: int) -> float:
    """Steps/s (median of 3 runs of ``n_steps``) of our Simulation + VelocityVerlet + Numba LJ (skin 1 Å)."""
    system = system.copy()
    sim = Simulation(system, VelocityVerlet(LennardJones.argon(cutoff=CUTOFF, skin=1.0), timestep_fs=TIMESTEP_FS))
    sim.run(10)
    return _median_rate(lambda: sim.run(n_steps), n_steps)


def _median_rate(run, n_steps: int, repeats: int = 3) -> float:
    """Median steps/s of ``repeats`` timed calls of ``run`` (each ``n_steps`` steps): robust on a shared machine."""
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        rates.append(n_steps / (time.perf_counter() - t0))
    return float(np.median(rates))


def ase_engine(system, n_steps: int) -> float:
    """Steps/s (median of 3 runs of ``n_steps``) of ase.md.VelocityVerlet + ase.calculators.lj.LennardJones."""
    from ase.calculators.lj import LennardJones as AseLJ
    from ase.md.verlet import VelocityVerlet as AseVV

    atoms = system.to_atoms()
    atoms.calc = AseLJ(sigma=ARGON_SIGMA, epsilon=ARGON_EPSILON, rc=CUTOFF, smooth=False)
    md = AseVV(atoms, timestep=TIMESTEP_FS * units.fs)
    md.run(1)
    return _median_rate(lambda: md.run(n_steps), n_steps)


def openmm_engine(system, n_steps: int, threads: int = 2) -> tuple[float, float]:
    """Steps/s of OpenMM's CPU platform: NonbondedForce LJ, CutoffPeriodic 0.85 nm, VerletIntegrator 0.005 ps.

    Also returns the largest force difference (eV/Å) from our LJ at the start, to show the same model runs.
    """
    import openmm

    omm = openmm.System()
    for m in system.masses:
        omm.addParticle(float(m))
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    nb.setCutoffDistance(CUTOFF / 10.0)
    nb.setUseDispersionCorrection(False)
    nb.setUseSwitchingFunction(False)
    for _ in range(system.n_atoms):
        nb.addParticle(0.0, ARGON_SIGMA / 10.0, ARGON_EPSILON * KJ_MOL_PER_EV)
    omm.addForce(nb)
    omm.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(row / 10.0)) for row in system.cell))
    integrator = openmm.VerletIntegrator(TIMESTEP_FS / 1000.0)
    platform = openmm.Platform.getPlatformByName("CPU")
    context = openmm.Context(omm, integrator, platform, {"Threads": str(threads)})
    context.setPositions(system.positions / 10.0)
    context.setVelocities(system.velocities * units.ps / 10.0)  # Å/ASE time -> nm/ps
    forces = context.getState(getForces=True).getForces(asNumpy=True)._value / KJ_MOL_PER_EV / 10.0  # eV/Å
    force_diff = float(np.abs(forces - LennardJones.argon(cutoff=CUTOFF).compute(system).forces).max())
    integrator.step(10)

    def run():
        integrator.step(n_steps)
        context.getState(getEnergy=True)  # make sure the steps are done

    return _median_rate(run, n_steps), force_diff


class RssSampler(IntervalReporter):
    """Samples the resident set size (MB) every ``interval`` steps (a bounded list)."""

    report_initial = False

    def __init__(self, interval: int):
        super().__init__(interval)
        import psutil

        self._process = psutil.Process()
        self.samples: list[tuple[int, float]] = []

    def report(self, simulation, snapshot) -> None:
        self.samples.append((snapshot.step, self._process.memory_info().rss / 2**20))


def memory_run(n_steps: int) -> dict:
    """RSS growth (MB) over a long N = 500 run with every reporter on, after the first 10 %."""
    system = make_system(500)
    sampler = RssSampler(max(n_steps // 50, 1))
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        tmp = Path(tmp)
        reporters = [TrajectoryReporter(tmp / "run.xtc", 100), TrajectoryReporter(tmp / "run.extxyz", 100),
                     ThermoLogReporter(tmp / "thermo.csv", 100), CheckpointReporter(tmp / "ckpt.npz", 1000),
                     ProgressReporter(n_steps, 100, file=devnull), sampler]
        guard = RunawayGuard(max_temperature_K=5000.0, min_distance=2.0, interval=100)
        t0 = time.perf_counter()
        with Simulation(system, VelocityVerlet(LennardJones.argon(cutoff=CUTOFF), timestep_fs=TIMESTEP_FS),
                        reporters, runaway=guard) as sim:
            sim.run(n_steps)
        wall = time.perf_counter() - t0
        frames = reporters[0].n_written
    steps, rss = np.array(sampler.samples).T
    settled = steps >= 0.1 * n_steps
    growth = float(rss[settled][-1] - rss[settled][0])
    slope = float(np.polyfit(steps[settled], rss[settled], 1)[0] * 1e4)  # MB per 10⁴ steps
    return {"steps": n_steps, "frames": frames, "rss_start_MB": float(rss[settled][0]), "rss_end_MB": float(rss[-1]),
            "rss_growth_MB": growth, "rss_slope_MB_per_1e4_steps": slope, "steps_per_s_with_reporters": n_steps / wall}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 500 and 4000, few steps (< 2 min)")
    args = parser.parse_args(argv)
    quick = args.quick
    # steps per timed run: (ours, ASE, OpenMM); every engine is timed 3 times (median)
    plan = {500: (300, 5, 300), 4000: (60, 2, 60)} if quick else {500: (2000, 20, 2000), 4000: (300, 5, 300),
                                                                   32000: (40, 0, 40)}
    import numba
    import openmm

    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))  # ours on 2 threads, like OpenMM's
    omm_double = openmm.Platform.getPlatformByName("CPU").supportsDoublePrecision()
    precision = {"ours": "float64", "ase": "float64", "openmm_version": openmm.__version__,
                 "openmm_cpu": f"mixed: single-precision forces (CPU platform supportsDoublePrecision() = {omm_double})"}
    figures: dict = {"engines": {}, "ratios": {}, "precision": precision,
                     "threads": {"ours_numba": numba.get_num_threads(), "openmm": 2}}
    targets = []
    print("precision: ours float64, ASE float64, OpenMM CPU mixed (single-precision forces)")
    print(f"{'N':>6} {'ours':>10} {'ASE':>10} {'OpenMM':>10} {'×ASE':>8} {'×OpenMM':>8}   (steps/s, median of 3)")
    for n_atoms, (n_ours, n_ase, n_omm) in plan.items():
        system = make_system(n_atoms)
        rate = {"ours": ours(system, n_ours)}
        rate["ase"] = ase_engine(system, n_ase) if n_ase else None
        rate["openmm_cpu_2threads"], force_diff = openmm_engine(system, n_omm)
        figures["engines"][str(n_atoms)] = rate
        figures.setdefault("openmm_max_force_difference_eV_per_A", {})[str(n_atoms)] = force_diff
        vs_ase = rate["ours"] / rate["ase"] if rate["ase"] else None
        vs_omm = rate["ours"] / rate["openmm_cpu_2threads"]
        figures["ratios"][str(n_atoms)] = {"vs_ase": vs_ase, "vs_openmm": vs_omm}
        print(f"{n_atoms:>6} {rate['ours']:>10.1f} {rate['ase'] or float('nan'):>10.2f} "
              f"{rate['openmm_cpu_2threads']:>10.1f} {vs_ase or float('nan'):>8.1f} {vs_omm:>8.2f}", flush=True)
        if n_atoms >= 4000:
            targets.append(target(f"speed vs OpenMM CPU 2 threads (mixed precision; ours float64), N={n_atoms} (x)",
                                  vs_omm, 1.0, "higher"))
    mem = memory_run(5000 if quick else 100_000)
    figures["memory"] = mem
    print(f"memory: {mem['steps']} steps with all reporters ({mem['frames']} frames), RSS {mem['rss_start_MB']:.1f} -> "
          f"{mem['rss_end_MB']:.1f} MB, growth {mem['rss_growth_MB']:.2f} MB, "
          f"{mem['steps_per_s_with_reporters']:.0f} steps/s")
    targets.append(target(f"RSS growth over {mem['steps']} steps, all reporters on (MB)", mem["rss_growth_MB"], 5.0,
                          "lower"))
    figures["settings"] = {"sigma_A": ARGON_SIGMA, "epsilon_eV": ARGON_EPSILON, "cutoff_A": CUTOFF,
                           "timestep_fs": TIMESTEP_FS, "skin_A": 1.0, "quick": quick,
                           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    write_result("md_engine", figures, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
