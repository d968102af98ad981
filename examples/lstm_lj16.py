"""16 Lennard-Jones particles with an LSTM operator that strides 1000 Verlet steps at a time.

The paper's 3D case (Kadupitiya, Fox, Jadhao 2020), end to end:

1. many Verlet trajectories from random positions at rest (fused Numba Verlet, Δ = 0.001 τ);
2. train the 2-layer LSTM (32, 32 units, dense 96) on windows of 5 states spaced Δ_R = 1000Δ;
3. run it as an integrator through the driver, with trajectory, log and
   checkpoint reporters, the centre-of-mass guard and the FlashMD energy
   correction; resume from the checkpoint;
4. compare with Verlet: energy, position error, and wall clock per unit time.

    python examples/lstm_lj16.py --epochs 30 --out demo_output/lstm_lj16

Reduced LJ units are ASE's units with σ = 1 Å, ε = 1 eV, m = 1 amu (time unit τ).
A short training (the default) gives a model that is only good for a few strides
before the energy correction has to work hard; the benchmark trains longer.
"""

from __future__ import annotations

import argparse
import pathlib
import time
import timeit

import numpy as np

from integrators import CheckpointReporter, Simulation, ThermoLogReporter, TrajectoryReporter
from integrators.fused_verlet import PeriodicLJ, verlet_lj
from surrogate.lstm import (
    LSTMOperatorIntegrator,
    OperatorInstabilityError,
    StabilityGuard,
    fused_rollout,
    generate_lj_data,
    load_lstm,
    save_operator_data,
    train_lstm,
)
from systems.catalogue import lj_cluster, lj_cluster_potential

STRIDE_STEPS = 1000  # Δ_R = 1000 Δ = 1 τ
DT = 0.001


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output/lstm_lj16")
    parser.add_argument("--trajectories", type=int, default=60)
    parser.add_argument("--t-max", type=float, default=60.0, help="simulated time per training trajectory (τ)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--strides", type=int, default=40, help="operator strides to run")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Data: 16 particles, ε = 2, ρσ³ = 0.2, periodic cube, from rest.
    t0 = time.perf_counter()
    data = generate_lj_data(16, n_trajectories=args.trajectories, t_max=args.t_max, save_every=100, seed=0)
    save_operator_data(data, out / "lj16_data", trajectory=False)
    print(f"data: {data.n_trajectories} trajectories × {data.n_frames} states in {time.perf_counter() - t0:.1f} s")

    # 2. Train (shared training loop: progress bar, metrics.csv, early stopping, resume).
    model_path = train_lstm(data, out / "model", stride_steps=STRIDE_STEPS, max_epochs=args.epochs,
                            max_windows=60_000, input_noise=0.002, lr=2e-3, seed=0)
    model, header = load_lstm(model_path)
    print(f"model: {model_path} (Δ = {header['timestep']}, Δ_R = {header['stride']} τ)")

    # 3. Run it as an integrator, with reporters, then resume from the checkpoint.
    system = lj_cluster(16, seed=4242)
    provider = lj_cluster_potential(16)
    integrator = LSTMOperatorIntegrator(model_path, provider, energy_correction=True,
                                        guard=StabilityGuard(max_energy_jump=0.5))
    half = args.strides // 2
    reporters = [TrajectoryReporter(out / "operator.extxyz", 1), ThermoLogReporter(out / "operator.csv", 1,
                 pressure=False), CheckpointReporter(out / "checkpoint.npz", half)]
    with Simulation(system, integrator, reporters) as sim:
        try:
            sim.run(half)
        except Exception as err:  # the driver reports an unstable rollout as a runaway
            print(f"operator run stopped: {err}")
    try:
        resumed = Simulation.from_checkpoint(out / "checkpoint.npz",
                                             LSTMOperatorIntegrator(model_path, provider, energy_correction=True,
                                                                    guard=StabilityGuard(max_energy_jump=0.5)))
        with resumed:
            resumed.run(args.strides - half)
        print(f"resumed from step {half} to step {resumed.step}, t = {resumed.time:.1f} τ")
    except (OperatorInstabilityError, Exception) as err:
        print(f"resumed run stopped: {err}")

    # 4. Against Verlet: energy drift of the uncorrected operator, position error, wall clock.
    start = lj_cluster(16, seed=4242)
    pot = PeriodicLJ.from_system(start, provider)
    n = args.strides
    ref = verlet_lj(start.positions, start.velocities, start.masses, pot, DT, (n + 4) * STRIDE_STEPS, STRIDE_STEPS)
    states = np.concatenate([ref.positions.reshape(n + 5, -1), ref.velocities.reshape(n + 5, -1)], axis=1)
    traj = fused_rollout(model, states[None, :5], n, masses=start.masses, stride=STRIDE_STEPS * DT)[:, 0]
    x, v = traj[:, :48].reshape(n, 16, 3), traj[:, 48:].reshape(n, 16, 3)
    energy = pot.energy(x) + 0.5 * np.sum(v**2, axis=(1, 2))
    e0 = ref.potential_energy[4] + ref.kinetic_energy[4]
    error = np.abs(x - ref.positions[5:]).mean(axis=(1, 2))
    for k in (0, 4, 9, n - 1):
        if k < n:
            print(f"t = {(k + 5) * STRIDE_STEPS * DT:5.1f} τ  δE = {(energy[k] - e0) / abs(e0):+.2e}  "
                  f"mean |Δx| = {error[k]:.3g} σ")
    t_v = _best_of(lambda: verlet_lj(start.positions, start.velocities, start.masses, pot, DT, 20_000, 20_000)) / 20
    t_r = _best_of(lambda: fused_rollout(model, states[None, :5], 1000, masses=start.masses, stride=1.0)) / 1000
    print(f"wall clock per τ: Verlet {t_v * 1e3:.3f} ms, LSTM operator {t_r * 1e3:.3f} ms "
          f"→ speedup {t_v / t_r:.1f}× (break-even stride {STRIDE_STEPS * t_r / t_v:.0f} steps)")


def _best_of(fn, repeats=3):
    """Best wall time (s) of ``fn()`` over ``repeats`` calls, after one warm-up call (Numba compilation)."""
    fn()
    return min(timeit.repeat(fn, number=1, repeat=repeats))


if __name__ == "__main__":
    main()
