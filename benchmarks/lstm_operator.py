"""LSTM large-timestep operators (Kadupitiya, Fox, Jadhao 2020) against our fused Numba Verlet.

Three parts, each with its competitor in the same process:

1. 1D harmonic oscillator and double well: mean |x_LSTM − x_Verlet| over the
   rollout at Δ_R = 100Δ, 400Δ, 1000Δ, 4000Δ (Δ = 0.001 τ), for oscillators not
   seen in training (paper: ≈ 0.001, 0.002, 0.003, 0.004 to t = 10⁴);
2. 16-particle periodic LJ (ε = 2, ρ = 0.2, from rest): δE = (E_t − E₀)/E₀ and
   position error over the rollout, wall-clock cost per unit simulated time
   against the fused Numba Verlet at Δ, speedup at Δ_R = 1000Δ and break-even stride;
3. the many-body operator (per-atom LSTM + EGNN) on liquid argon: 256 atoms at a
   stride of 20 Verlet steps, RDF and VACF against Verlet, and a 2048-atom run
   with the same weights.

Issue #13 parts (benchmarks/README.md explains the two metrics, teacher-forced and closed-loop):

4. ``paper``: the paper preset (positions only, LSTM 32/32, float64, the paper's data ranges) and the same
   with the causal-attention body at 1000Δ; rows "teacher-forced ...": the mean one-step error from true
   windows on the paper's test trajectories to t = 10⁴, against the paper's 0.001-0.004;
5. ``closed``: free-running rollouts at Δ_R = 1000Δ on unseen m, k, x0: the increment LSTM (one-step and
   unrolled training), the linear head, the reversible (Störmer) head (Adam, unrolled; conditioned on √(k/m),
   or on the mass and the orbit's energy, with an L-BFGS polish), the ``stormer`` head (G = 2cos θ(ω)·x, the
   exact harmonic stride map with a learned phase, L-BFGS polish) and the attention body beside the LSTM rows;
   rows "closed-loop ... t ≤ T" give mean |Δx|/A (SHO to t = 1000, goal 0.01; double well to t = 100, goal
   0.05), and the best operator's speed against the fused Verlet over 1000 oscillators (counted only where its
   accuracy row is met). Adam is capped in wall-clock time per model (quick 25 s, full 45 s), so on a loaded
   machine a model gets fewer epochs; the polish is not capped (it stops when the loss stops falling).

Models: ``--models DIR`` holds trained model files (``harmonic_100.pt``, ...,
``lj16_1000.pt``, ``argon_manybody.pt``); a missing one is trained here
(``--quick``: small data and few epochs, so its accuracy is only indicative).
``--train-only`` trains every model into ``--models`` (use ``--device cuda``).

    python benchmarks/lstm_operator.py --quick
    python benchmarks/lstm_operator.py --train-only --models runs/lstm_models --device cuda
    python benchmarks/lstm_operator.py --models runs/lstm_models
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import median_time, target, write_result  # noqa: E402
from integrators.fused_verlet import PeriodicLJ, params_1d, verlet_1d, verlet_lj  # noqa: E402
from surrogate.lstm import (  # noqa: E402
    fused_rollout,
    generate_lj_data,
    generate_oscillator_data,
    load_lstm,
    rollout,
    train_lstm,
)
from systems.atomic_file import atomic_copy  # noqa: E402

DT = 0.001
STRIDES_1D = (100, 400, 1000, 4000)
PAPER_1D_ERROR = {100: 0.001, 400: 0.002, 1000: 0.003, 4000: 0.004}
LJ_STRIDE = 1000
FUSED_1D = {"harmonic": "harmonic", "double_well": "double_well"}
EPOCHS_1D = 60  # full-mode training epochs of each 1D model (--epochs-1d)
ALL_PARTS = "paper,closed,lj16paper,1d,lj,manybody"
#: --quick runs issue #13's rows; the stage-1 parts (1d, lj, manybody: 93 s alone) run with --parts.
QUICK_PARTS = "paper,closed,lj16paper"


# ----------------------------------------------------------------- training
def existing_model(models, name, train_dir):
    """A finished model file, or the best model so far of a training run that was cut short."""
    for path in (models / f"{name}.pt", models / train_dir / "best.pt"):
        if path.is_file():
            return path
    return None


def train_1d(potential, stride, models, quick, device, log, allow_training=True, conditions="auto"):
    """A 1D operator: conditioned on mass (and k) by default; ``conditions=()`` is the paper's states-only model."""
    name = f"{potential}_{stride}" + ("" if conditions == "auto" else "_states_only")
    path = existing_model(models, name, f"_train_{name}")
    if path is not None or not allow_training:
        return path
    path = models / f"{name}.pt"
    t_max = max(30.0, 8 * stride * DT) if quick else max(60.0, 15 * stride * DT)
    # 1000 oscillators (the paper used 500): the model must generalise over the (m, k) plane.
    data = generate_oscillator_data(potential, 100 if quick else 1000, t_max=t_max, save_every=100, seed=1)
    work = models / f"_train_{name}"
    t0 = time.perf_counter()
    best = train_lstm(data, work, stride_steps=stride, max_epochs=4 if quick else EPOCHS_1D, batch_size=256, lr=2e-3,
                      dropout=0.0, max_windows=10_000 if quick else 40_000, lr_patience=5,
                      early_stopping_patience=20, device=device, seed=0, progress=False, dtype="float64",
                      conditions=conditions, schedule="cosine", min_lr=1e-6)
    atomic_copy(best, path)
    log(f"trained {path.name} in {time.perf_counter() - t0:.0f} s")
    return path


def train_lj(models, quick, device, log, allow_training=True):
    path = existing_model(models, f"lj16_{LJ_STRIDE}", "_train_lj16")
    if path is not None or not allow_training:
        return path
    path = models / f"lj16_{LJ_STRIDE}.pt"
    data = generate_lj_data(16, n_trajectories=20 if quick else 150, t_max=30.0 if quick else 60.0, save_every=100,
                            seed=0)
    t0 = time.perf_counter()
    best = train_lstm(data, models / "_train_lj16", stride_steps=LJ_STRIDE, max_epochs=2 if quick else 60,
                      batch_size=256, lr=2e-3, dropout=0.0 if quick else 0.15, max_windows=10_000 if quick else 50_000,
                      input_noise=0.0 if quick else 0.002, lr_patience=5, early_stopping_patience=20, device=device,
                      seed=0, progress=False)
    atomic_copy(best, path)
    log(f"trained {path.name} in {time.perf_counter() - t0:.0f} s")
    return path


# --------------------------------------------------------------- 1D accuracy
def held_out_oscillators(header, potential, n_test, seed):
    """Masses, start positions and spring constants of ``n_test`` oscillators not in training.

    Drawn (seeded) inside the ranges the model was trained on, as its header records them: a small
    (quick) training set covers less than the nominal 1-10 ranges, and the operator refuses a mass
    or k outside its trained range. Raises ValueError if a draw falls outside (checked, not assumed).
    """
    desc = header["system"]
    m_lo, m_hi = desc["mass_range"]
    rng = np.random.default_rng(seed)
    m = rng.uniform(m_lo, m_hi, n_test)
    x0 = rng.uniform(-1.0, 1.0, n_test) if potential == "harmonic" else rng.uniform(-2.0, 2.0, n_test)
    ranges = {"mass": (m_lo, m_hi)}
    if potential == "harmonic":
        (k_lo, k_hi), = desc["parameter_ranges"]
        k = rng.uniform(k_lo, k_hi, n_test)
        ranges["k"] = (k_lo, k_hi)
    else:
        k = np.ones(n_test)
    for name, values in (("mass", m), ("k", k)):
        if name in ranges and not np.all((values >= ranges[name][0]) & (values <= ranges[name][1])):
            raise ValueError(f"test oscillator {name} {values.min():.4g}..{values.max():.4g} lies outside the "
                             f"trained range {ranges[name]} of the {potential} model")
    return m, x0, k


def eval_1d(potential, stride, path, t_end, n_test=40, seed=123):
    """Mean |x_LSTM − x_Verlet| over the rollout (and at shorter horizons) for oscillators not in training."""
    model, header = load_lstm(path)
    model = model.double()
    m, x0, k = held_out_oscillators(header, potential, n_test, seed)
    params = params_1d("harmonic", n_test, k=k) if potential == "harmonic" else params_1d("double_well", n_test)
    values = {"mass": m, "k": k}
    conditions = np.stack([values[c] for c in model.conditions], 1) if model.conditions else None
    n_strides = int(round(t_end / (stride * DT)))
    ref = verlet_1d(x0, np.zeros(n_test), m, FUSED_1D[potential], params, DT, (n_strides + 4) * stride, stride)
    windows = np.stack([ref.positions[:5].T, ref.velocities[:5].T], axis=-1)  # [B, 5, 2]
    t0 = time.perf_counter()
    out = fused_rollout(model, windows, n_strides, conditions=conditions)
    wall = time.perf_counter() - t0
    err = np.abs(out[:, :, 0] - ref.positions[5:5 + n_strides])  # [n_strides, B]
    finite = np.isfinite(err)
    mean_to = lambda e, t: float(np.nanmean(e[:max(1, int(round(t / (stride * DT))))]))  # noqa: E731
    res = {"mean_error": float(np.nanmean(np.where(finite, err, np.nan))) if finite.any() else float("inf"),
           "mean_error_t10": mean_to(err, 10.0), "mean_error_t100": mean_to(err, 100.0),
           "final_error": float(np.nanmean(err[-1])), "t_end": n_strides * stride * DT, "n_strides": n_strides,
           "rollout_s": wall, "diverged_fraction": float(1 - finite[-1].mean()),
           "conditions": list(model.conditions)}
    # The same oscillators through the integrator with the per-particle FlashMD energy correction
    # (best effort: a velocity goes to zero where a predicted position overshoots the turning point).
    from surrogate.lstm import LSTMOperatorIntegrator, StabilityGuard
    from systems.catalogue import oscillator_1d

    system, provider = oscillator_1d(potential, x0, mass=m, k=k if potential == "harmonic" else 1.0)
    integ = LSTMOperatorIntegrator(model, provider, header=header, energy_correction="best_effort",
                                   guard=StabilityGuard(max_energy_jump=None, range_margin=None))
    integ.initialize(system)
    xs = []
    for _ in range(n_strides):
        integ.step(system)
        xs.append(system.positions[:, 0].copy())
    err_c = np.abs(np.array(xs) - ref.positions[5:5 + n_strides])
    res.update({"corrected_mean_error": float(err_c.mean()), "corrected_mean_error_t10": mean_to(err_c, 10.0),
                "corrected_mean_error_t100": mean_to(err_c, 100.0),
                "corrected_clipped_fraction": integ.clipped_corrections / (n_strides * n_test)})
    return res


# ------------------------------------------------------------------- LJ16
def eval_lj(path, t_end, log):
    from systems.catalogue import lj_cluster, lj_cluster_potential

    model, header = load_lstm(path)
    model32 = model.float()
    system = lj_cluster(16, seed=10_000)
    provider = lj_cluster_potential(16)
    pot = PeriodicLJ.from_system(system, provider)
    stride = LJ_STRIDE
    n_strides = int(round(t_end / (stride * DT)))
    ref = verlet_lj(system.positions, system.velocities, system.masses, pot, DT, (n_strides + 4) * stride, stride)
    states = np.concatenate([ref.positions.reshape(len(ref.times), -1), ref.velocities.reshape(len(ref.times), -1)], 1)
    windows = states[None, :5]
    out = rollout(model32, windows, n_strides, masses=system.masses, stride=stride * DT)[:, 0]  # [S, D]
    x = out[:, :48].reshape(-1, 16, 3)
    v = out[:, 48:].reshape(-1, 16, 3)
    e_pot = pot.energy(x)
    e_tot = e_pot + 0.5 * np.sum(v**2, axis=(1, 2))
    e0 = ref.potential_energy[4] + ref.kinetic_energy[4]
    delta_e = (e_tot - e0) / abs(e0)
    pos_err = np.abs(x - ref.positions[5:5 + n_strides]).mean(axis=(1, 2))
    e_ref = ref.potential_energy + ref.kinetic_energy
    figures = {"t_end": n_strides * stride * DT, "E0": float(e0), "max_abs_deltaE": float(np.nanmax(np.abs(delta_e))),
               "final_deltaE": float(delta_e[-1]), "verlet_max_abs_deltaE": float(np.abs((e_ref - e_ref[4]) / e0).max()),
               "position_error_t10": float(pos_err[min(9, len(pos_err) - 1)]),
               "position_error_mean": float(np.nanmean(pos_err))}
    # Energy-corrected integrator (FlashMD rescaling against the LJ potential) through the driver protocol.
    from surrogate.lstm import LSTMOperatorIntegrator, OperatorInstabilityError, StabilityGuard

    sys_c = system.copy()
    integ = LSTMOperatorIntegrator(model32, provider, header=header, energy_correction=True,
                                   guard=StabilityGuard(max_energy_jump=0.5, range_margin=1.0))
    integ.initialize(sys_c)
    e_start = provider.compute(sys_c).energy + sys_c.kinetic_energy()
    worst, done = 0.0, 0
    try:
        for _ in range(min(n_strides, 2000)):
            integ.step(sys_c)
            done += 1
            worst = max(worst, abs(provider.compute(sys_c).energy + sys_c.kinetic_energy() - e_start) / abs(e_start))
    except OperatorInstabilityError as err:
        log(f"energy-corrected LJ16 rollout stopped after {done} strides: {err}")
    # A rollout the correction could not carry to the end does not count as conserving energy.
    figures.update({"corrected_max_abs_deltaE": worst if done == min(n_strides, 2000) else float("inf"),
                    "corrected_strides": done})
    # Timing: single trajectory and a 256-member ensemble, per unit simulated time.
    torch.set_num_threads(1)
    n_time = 2000
    t_v = median_time(lambda: verlet_lj(system.positions, system.velocities, system.masses, pot, DT, 20_000, 20_000)) / 20_000
    t_torch = median_time(lambda: rollout(model32, windows, 200)) / 200
    t_r = median_time(lambda: fused_rollout(model, windows, n_time, masses=system.masses, stride=stride * DT)) / n_time
    ens = np.repeat(windows, 256, axis=0)
    xs = np.repeat(system.positions[None], 256, 0)
    t_v_ens = median_time(lambda: verlet_lj(xs, xs * 0, system.masses, pot, DT, 2000, 2000)) / 2000
    t_r_ens = min(median_time(lambda: rollout(model32, ens, 200)),
                  median_time(lambda: fused_rollout(model, ens, 200, masses=system.masses, stride=stride * DT))) / 200
    figures.update({
        "verlet_s_per_step": t_v, "lstm_s_per_stride": t_r, "lstm_torch_s_per_stride": t_torch,
        "speedup_at_1000": stride * t_v / t_r, "break_even_stride_steps": t_r / t_v,
        "ensemble256_verlet_s_per_step": t_v_ens, "ensemble256_lstm_s_per_stride": t_r_ens,
        "ensemble256_speedup_at_1000": stride * t_v_ens / t_r_ens,
        "speedup_at_stride": {str(s): s * t_v / t_r for s in STRIDES_1D},
    })
    return figures


# --------------------------------------------------------------- many-body
MB_DT_FS = 5.0
MB_STRIDE_STEPS = 20


def argon_verlet(n_atoms, n_strides, seed, equilibrate_steps):
    """Bussi-equilibrated liquid argon, then NVE Verlet; states and forces (eV/Å) every stride [T, n, 3]."""
    from integrators import Bussi, VelocityVerlet
    from systems import units
    from systems.catalogue import liquid_argon
    from systems.potentials import LennardJones

    system = liquid_argon(n_atoms, seed=seed)
    provider = LennardJones.argon()
    thermostat = Bussi(provider, timestep_fs=MB_DT_FS, temperature_K=94.4, tau_fs=200.0, seed=seed)
    for _ in range(equilibrate_steps):
        thermostat.step(system)
    verlet = VelocityVerlet(provider, timestep_fs=MB_DT_FS)
    xs, vs, fs = [system.positions.copy()], [system.velocities.copy()], [provider.compute(system).forces]
    t0 = time.perf_counter()
    for _ in range(n_strides):
        for _ in range(MB_STRIDE_STEPS):
            verlet.step(system)
        xs.append(system.positions.copy())
        vs.append(system.velocities.copy())
        fs.append(verlet.last_result.forces.copy())  # Verlet's own forces at this state: no extra evaluation
    wall = time.perf_counter() - t0
    return system, provider, np.array(xs), np.array(vs), wall, units, np.array(fs)


#: Many-body training: R independent Bussi-equilibrated 256-Ar runs (seeds 1..R), the last one validates;
#: the operator reads the window's forces (one LJ evaluation per stride in the rollout). ``augment`` noisy
#: copies of every training window (positions ± position_noise Å, velocities ± velocity_noise·v_s, forces
#: re-evaluated) get exact targets from 20 Verlet steps: without them the operator is accurate for one stride
#: (rms position error 0.007 Å) but its rollout blows up within 5 strides.
MB_TRAIN = {False: {"runs": 8, "strides": 100, "equilibrate_steps": 1000, "max_epochs": 30, "batch_size": 4,
                    "lr": 2e-3, "force_input": True, "augment": 2, "position_noise": 0.03, "velocity_noise": 0.03},
            True: {"runs": 2, "strides": 30, "equilibrate_steps": 200, "max_epochs": 2, "batch_size": 4,
                   "lr": 2e-3, "force_input": True, "augment": 1, "position_noise": 0.03, "velocity_noise": 0.03}}


def argon_stride_map(template, provider, units):
    """(x [n,3] Å, v [n,3] Å/time) → the state one stride later by velocity Verlet (the reference dynamics)."""
    from surrogate.lstm.manybody import verlet_stride_map

    return verlet_stride_map(template, provider, MB_DT_FS * units.fs, MB_STRIDE_STEPS)


def train_manybody_model(models, quick, device, log, allow_training=True):
    from surrogate.lstm.manybody import train_manybody

    path = existing_model(models, "argon_manybody", "_train_manybody")
    if path is not None or not allow_training:
        return path
    path = models / "argon_manybody.pt"
    cfg = MB_TRAIN[bool(quick)]
    t0 = time.perf_counter()
    runs = [argon_verlet(256, cfg["strides"], seed=seed, equilibrate_steps=cfg["equilibrate_steps"])
            for seed in range(1, cfg["runs"] + 1)]
    system, provider, units = runs[0][0], runs[0][1], runs[0][5]
    log(f"many-body training data: {cfg['runs']} × {cfg['strides']} strides in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    best = train_manybody([r[2] for r in runs], [r[3] for r in runs], system.masses, system.cell, system.pbc,
                          models / "_train_manybody", stride=MB_STRIDE_STEPS * MB_DT_FS * units.fs, cutoff=6.5,
                          max_epochs=cfg["max_epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"], device=device,
                          progress=False, force_input=cfg["force_input"], forces=[r[6] for r in runs],
                          force_provider=provider, numbers=system.numbers, augment_copies=cfg["augment"],
                          position_noise=cfg["position_noise"], velocity_noise=cfg["velocity_noise"],
                          reference_map=argon_stride_map(system, provider, units), val_fraction=1.0 / cfg["runs"],
                          system_info={"kind": "liquid_argon", "potential": "LennardJones.argon", "T_K": 94.4})
    atomic_copy(best, path)
    log(f"trained {path.name} in {time.perf_counter() - t0:.0f} s ({cfg})")
    return path


def eval_manybody(path, quick, log):
    from surrogate.compare.distances import rdf_error, vacf_error
    from surrogate.compare.dynamics import vacf
    from surrogate.compare.run_data import RunData
    from surrogate.compare.structure import rdf
    from surrogate.lstm.integrator import OperatorInstabilityError
    from surrogate.lstm.manybody import ManyBodyOperatorIntegrator

    figures = {"stride_fs": MB_DT_FS * MB_STRIDE_STEPS, "stride_over_verlet": MB_STRIDE_STEPS}
    n_strides = 30 if quick else 200
    system, provider, xs, vs, wall_v, units, _ = argon_verlet(256, n_strides + 4, seed=7,
                                                           equilibrate_steps=200 if quick else 2000)
    start = system.copy()
    start.positions, start.velocities, start.time = xs[0].copy(), vs[0].copy(), 0.0
    corrected = start.copy()
    integ = ManyBodyOperatorIntegrator(path, provider, verlet_timestep=MB_DT_FS * units.fs)
    # A force_input operator evaluates the LJ forces once per stride; its wall time below includes that.
    figures["force_input"] = integ.force_input
    run_x, run_v = [], []
    integ.initialize(start)
    t0 = time.perf_counter()
    done = 0
    try:
        for _ in range(n_strides):
            integ.step(start)
            run_x.append(start.positions.copy())
            run_v.append(start.velocities.copy())
            done += 1
    except OperatorInstabilityError as err:
        log(f"many-body rollout stopped after {done} strides: {err}")
    wall_op = time.perf_counter() - t0
    figures.update({"n256_strides_completed": done, "n256_strides_requested": n_strides,
                    "verlet_wall_s_per_ps": wall_v / ((n_strides + 4) * MB_STRIDE_STEPS * MB_DT_FS / 1000),
                    "operator_wall_s_per_ps": wall_op / max(done * MB_STRIDE_STEPS * MB_DT_FS / 1000, 1e-12)})
    if done >= 10:
        dt_ps = MB_STRIDE_STEPS * MB_DT_FS / 1000
        to_ps = units.ps
        ref = RunData("verlet", system.numbers, system.masses, xs[4:4 + done], np.arange(done) * dt_ps,
                      np.repeat(system.cell[None], done, 0), system.pbc, velocities=vs[4:4 + done] * to_ps)
        op = RunData("operator", system.numbers, system.masses, np.array(run_x), np.arange(done) * dt_ps,
                     np.repeat(system.cell[None], done, 0), system.pbc, velocities=np.array(run_v) * to_ps)
        g_ref, g_op = rdf(ref, 18, 18, 10.0), rdf(op, 18, 18, 10.0)
        figures["rdf_error"] = rdf_error(g_ref, g_op)
        figures["vacf_error"] = vacf_error(vacf(ref).vacf, vacf(op).vacf)
        ke = 0.5 * np.sum(system.masses[None, :, None] * np.array(run_v) ** 2, axis=(1, 2))
        figures["temperature_K_operator"] = float(np.mean(2 * ke / (3 * 255 * units.kB)))
        ke_ref = 0.5 * np.sum(system.masses[None, :, None] * vs[4:4 + done] ** 2, axis=(1, 2))
        figures["temperature_K_verlet"] = float(np.mean(2 * ke_ref / (3 * 255 * units.kB)))
    # The same with the FlashMD energy correction against the LJ potential (keeps E, hence T, from drifting).
    integ_c = ManyBodyOperatorIntegrator(path, provider, verlet_timestep=MB_DT_FS * units.fs, energy_correction=True)
    integ_c.initialize(corrected)
    temps, done_c, cor_x, cor_v = [], 0, [], []
    try:
        for _ in range(n_strides):
            integ_c.step(corrected)
            temps.append(corrected.temperature())
            cor_x.append(corrected.positions.copy())
            cor_v.append(corrected.velocities.copy())
            done_c += 1
    except OperatorInstabilityError as err:
        log(f"energy-corrected many-body rollout stopped after {done_c} strides: {err}")
    figures.update({"n256_corrected_strides_completed": done_c,
                    "n256_corrected_temperature_K": float(np.mean(temps)) if temps else None})
    if done_c >= 10:  # the same structure and dynamics figures for the corrected run, over its own length
        dt_ps = MB_STRIDE_STEPS * MB_DT_FS / 1000
        ref = RunData("verlet", system.numbers, system.masses, xs[4:4 + done_c], np.arange(done_c) * dt_ps,
                      np.repeat(system.cell[None], done_c, 0), system.pbc, velocities=vs[4:4 + done_c] * units.ps)
        cor = RunData("corrected", system.numbers, system.masses, np.array(cor_x), np.arange(done_c) * dt_ps,
                      np.repeat(system.cell[None], done_c, 0), system.pbc, velocities=np.array(cor_v) * units.ps)
        figures["corrected_rdf_error"] = rdf_error(rdf(ref, 18, 18, 10.0), rdf(cor, 18, 18, 10.0))
        figures["corrected_vacf_error"] = vacf_error(vacf(ref).vacf, vacf(cor).vacf)
    # Size transfer: 2048 atoms, same weights, plain and energy-corrected from the same start state.
    big0, big_provider, _, _, _, _, _ = argon_verlet(2048, 0, seed=8, equilibrate_steps=20 if quick else 1000)
    for key, corrected in (("n2048", False), ("n2048_corrected", True)):
        big = big0.copy()
        integ_big = ManyBodyOperatorIntegrator(path, big_provider, verlet_timestep=MB_DT_FS * units.fs,
                                               energy_correction=corrected)
        integ_big.initialize(big)
        done_big = 0
        try:
            for _ in range(5 if quick else 20):
                integ_big.step(big)
                done_big += 1
        except OperatorInstabilityError as err:
            log(f"{'energy-corrected ' if corrected else ''}2048-atom rollout stopped after {done_big} strides: {err}")
        figures[f"{key}_strides_completed"] = done_big
        figures[f"{key}_temperature_K"] = float(big.temperature())
    return figures



# ------------------------------------------ issue #13: paper metric, closed loop, attention
#: Closed-loop benchmark setups (Δ_R = 1000Δ): unseen m, k (harmonic), x0; horizon and goal of mean |Δx|/A.
CLOSED_LOOP = {"harmonic": {"x0_range": (-1.0, 1.0), "t_end": 1000.0, "goal": 0.01, "conditions": ("mass", "k")},
               "double_well": {"x0_range": (-2.0, 2.0), "t_end": 100.0, "goal": 0.05, "conditions": ("mass",)}}
#: Operators compared closed-loop: (name, PositionOperator options, unrolled fine-tuning strides or 0,
#: L-BFGS polish steps (full, quick) or 0). "omega" (√(k/m)) exists for the harmonic potential only;
#: "energy" (the orbit's total energy, from one potential evaluation at the start) for 1D potentials.
CLOSED_LOOP_OPERATORS = (
    ("lstm", {"head": "increment", "hidden": (32, 32)}, 0, 0),
    ("lstm_unrolled", {"head": "increment", "hidden": (32, 32)}, 10, 0),
    ("linear", {"head": "linear", "hidden": (32, 32)}, 0, 0),
    ("reversible", {"head": "reversible", "hidden": (64, 64)}, 0, 0),
    ("reversible_unrolled", {"head": "reversible", "hidden": (64, 64)}, 20, 0),
    ("reversible_omega_polished", {"head": "reversible", "hidden": (32, 32), "conditions": ("omega",)}, 0, (2000, 400)),
    # Adam only brings θ(ω) near; the polish does the work (3 epochs suffice).
    ("stormer_omega_polished", {"head": "stormer", "hidden": (32, 32), "conditions": ("omega",), "max_epochs": 3}, 0,
     (2000, 1000)),
    # The same head fed (m, k) instead of ω: θ(m, k) is harder to fit to 1e-6 than the near-linear θ(ω).
    ("stormer_mk_polished", {"head": "stormer", "hidden": (32, 32), "conditions": ("mass", "k"), "max_epochs": 3}, 0,
     (2000, 400)),
    # G(x; m, E) is a 3D function with fine structure near the barrier: a deeper MLP, more orbits, longer Adam.
    ("reversible_energy_polished", {"head": "reversible", "hidden": (64, 64, 64), "conditions": ("mass", "energy"),
                                    "n_trajectories": 1000, "adam_budget_s": 150, "max_epochs": 60,
                                    "polish_sequences": 10_000}, 0, (4000, 400)),
    # The causal-attention body beside the LSTM rows it replaces (one-step, unrolled, linear head).
    ("attention", {"head": "increment", "hidden": (32, 32), "arch": "attention"}, 0, 0),
    ("attention_unrolled", {"head": "increment", "hidden": (32, 32), "arch": "attention"}, 10, 0),
    ("attention_linear", {"head": "linear", "hidden": (32, 32), "arch": "attention"}, 0, 0),
)
#: --quick: the best operator of each potential and the attention body.
QUICK_OPERATORS = ("stormer_omega_polished", "attention")


def _position_model(models, name, make_data, options, quick, device, log, allow_training, budget_s,
                    unroll=0, base=None, polish=0):
    """A positions-only operator ``models/NAME.pt``, trained here (time-capped) if missing.

    options: PositionOperator/trainer keywords, plus ``polish_sequences`` (L-BFGS set size, full mode).
    """
    from surrogate.lstm.position_train import train_position_operator

    # A polished model is only ever its final file: an interrupted run's Adam model is not it.
    path = (models / f"{name}.pt" if (models / f"{name}.pt").is_file() else None) if polish else \
        existing_model(models, name, f"_train_{name}")
    if path is not None or not allow_training:
        return path
    t0 = time.perf_counter()
    data = make_data()
    kw = dict(options)
    polish_sequences = kw.pop("polish_sequences", 3000)
    if unroll:
        kw.update(unroll=unroll, input_noise=1e-3, init_from=base, lr=5e-4,
                  max_sequences=1000 if quick else 4000, max_epochs=3 if quick else 10)
    else:
        kw.setdefault("lr", 3e-3)
        kw.update(max_sequences=3000 if quick else 20_000, max_epochs=kw.get("max_epochs", 4 if quick else 30))
    best = train_position_operator(data, models / f"_train_{name}", batch_size=64, device=device, seed=0,
                                   time_budget_s=budget_s, **kw)
    if polish:  # full-batch L-BFGS on the one-step loss (see polish_lbfgs)
        from surrogate.lstm.position_train import polish_lbfgs

        best, info = polish_lbfgs(best, data, models / f"_train_{name}" / "polished.pt",
                                  steps=polish[1] if quick else polish[0],
                                  max_sequences=1000 if quick else polish_sequences)
        log(f"{name}: L-BFGS polish, validation loss {info['val_loss_before']:.3g} → {info['val_loss']:.3g}")
    atomic_copy(best, models / f"{name}.pt")
    log(f"trained {name}.pt in {time.perf_counter() - t0:.0f} s")
    return models / f"{name}.pt"


def paper_rows(models, quick, device, log, allow_training=True):
    """Teacher-forced (the paper's metric): one-step |x_R − x_GT| from true windows on the paper's test
    trajectories to t = 10⁴, for the paper preset (positions only, LSTM 32/32, float64) and the attention body
    at every stride (benchmarks/lstm_teacher.py: its recipe, cache and rows)."""
    from benchmarks import lstm_teacher

    return lstm_teacher.run(quick, models=models, allow_training=allow_training, log=log, device=device,
                            attention_strides=(1000,) if quick else (100, 400, 1000, 4000))


#: The closed-loop operators under the paper's metric, one model per stride: (potential, name, options,
#: x0 range of the training orbits (Å), trajectories, Adam budget s, polish steps, polish set). The double
#: well's range reaches past the test start x0 = −2 (E = 2 eV), which would otherwise sit on its edge.
STRUCTURED_TEACHER = (
    ("harmonic", "stormer_omega", {"head": "stormer", "hidden": (32, 32), "conditions": ("omega",),
                                   "max_epochs": 3}, (-1.0, 1.0), 200, 45, 2000, 3000),
    ("double_well", "reversible_energy", {"head": "reversible", "hidden": (64, 64, 64),
                                          "conditions": ("mass", "energy"), "max_epochs": 60},
     (-2.2, 2.2), 1000, 150, 3000, 8000),
)


def structured_teacher_rows(models, quick, device, log, allow_training=True):
    """Teacher-forced rows (the paper's metric, its test trajectories) for the operators that hold their phase
    closed-loop: the stormer head on ω (harmonic) and the reversible head on (m, E) (double well). Not the
    paper's inputs (they also read the oscillator's known parameters), labelled so."""
    from surrogate.lstm import generate_oscillator_data
    from surrogate.lstm.closed_loop import condition_array
    from surrogate.lstm.paper import PAPER_ERROR, PAPER_TEST, paper_test_trajectory
    from surrogate.lstm.position_operator import teacher_forced
    from surrogate.lstm.position_train import load_position_operator
    from systems.catalogue import oscillator_1d

    figures, targets = {}, []
    for potential, name, options, x0_range, n_traj, budget, polish, polish_set in STRUCTURED_TEACHER:
        for stride in STRIDES_1D:
            if quick and (potential != "harmonic" or stride != 1000):
                continue  # quick: the harmonic stormer at 1000Δ only (the double well's takes minutes)
            opts = dict(options, stride_steps=stride, polish_sequences=polish_set)
            model_name = f"tf_{potential}_{name}_{stride}"
            data = lambda: generate_oscillator_data(potential, 60 if quick else n_traj, t_max=60.0,  # noqa: E731
                                                    save_every=min(stride, 100), x0_range=x0_range, seed=1)
            path = _position_model(models, model_name, data, opts, quick, device, log, allow_training,
                                   25 if quick else budget, polish=(polish, 1000))
            if path is None:
                figures[model_name] = "no trained model"
                continue
            model, _ = load_position_operator(path)
            m, x0, k = PAPER_TEST[potential]
            k = 1.0 if k is None else k
            start, pot = oscillator_1d(potential, x0, mass=m, k=k)  # from rest: E = U(x0)
            cond = condition_array(model.conditions, m, k, pot.compute(start).energy)
            x = paper_test_trajectory(potential, stride)
            pred = teacher_forced(model, x, cond[0]).numpy()[:, 0]
            err = np.abs(pred - x[model.window:])
            res = {"mean": float(err.mean()), "max": float(err.max()), "n_predictions": int(len(err)),
                   "inputs": ["window of positions"] + list(model.conditions)}
            figures[model_name] = res
            log(f"teacher-forced {potential} {name} {stride}Δ (t ≤ 1e4): mean {res['mean']:.3g}, max {res['max']:.3g} "
                f"(paper {PAPER_ERROR[stride]})")
            targets.append(target(f"teacher-forced {potential} mean |Δx| at {stride}Δ, t ≤ 1e4 (paper metric), "
                                  f"closed-loop operator {name} (reads {'+'.join(model.conditions)} too)",
                                  res["mean"], PAPER_ERROR[stride], "lower"))
    return figures, targets


def closed_loop_rows(models, quick, device, log, allow_training=True):
    """Closed loop at Δ_R = 1000Δ on unseen oscillators: mean |Δx| and mean |Δx|/A to the horizon, per operator."""
    from surrogate.lstm import generate_oscillator_data
    from surrogate.lstm.closed_loop import closed_loop_error
    from surrogate.lstm.position_train import load_position_operator

    figures, targets = {}, []
    potentials = ("harmonic",) if quick else ("harmonic", "double_well")
    operators = [op for op in CLOSED_LOOP_OPERATORS if not quick or op[0] in QUICK_OPERATORS]
    for potential in potentials:
        setup = CLOSED_LOOP[potential]
        def data_of(n_full):
            return lambda: generate_oscillator_data(potential, 60 if quick else n_full, t_max=60.0, save_every=100,
                                                    x0_range=setup["x0_range"], seed=1)
        best_rel, best_model, trained = float("inf"), None, {}
        for name, options, unroll, polish in operators:
            conditions = options.get("conditions", ())
            if potential != "harmonic" and ("omega" in conditions or "k" in conditions or
                                            options["head"] == "stormer"):
                continue  # ω, k and the linear Störmer map are the harmonic oscillator's
            if potential == "harmonic" and "energy" in conditions:
                continue  # (m, E) is the general 1D orbit label, shown where ω is not enough
            opts = dict({"conditions": setup["conditions"]}, **options, stride_steps=1000)
            n_full, budget = opts.pop("n_trajectories", 200), opts.pop("adam_budget_s", 45)
            base = trained.get(name.replace("_unrolled", "")) if unroll else None
            if unroll and base is None:
                continue
            model_name = f"closed_{potential}_{name}"
            path = _position_model(models, model_name, data_of(n_full), opts, quick, device, log, allow_training,
                                   25 if quick else budget, unroll=unroll, base=base, polish=polish)
            if path is None:
                figures[model_name] = "no trained model"
                continue
            trained[name] = path
            model, _ = load_position_operator(path)
            res = closed_loop_error(model, potential, 1000, setup["t_end"], n_test=10 if quick else 40,
                                    x0_range=setup["x0_range"])
            figures[model_name] = res
            horizon = f"{res['t_end']:g}"
            rel = res[f"mean_rel_t{horizon}"]
            log(f"closed-loop {potential} {name} 1000Δ, t ≤ {horizon}: mean |Δx| {res[f'mean_abs_t{horizon}']:.3g}, "
                f"/A {rel:.3g}")
            label = "attention " if options.get("arch") == "attention" else ""
            targets.append(target(f"{label}closed-loop {potential} {name} mean |Δx|/A at 1000Δ, t ≤ "
                                  f"{res['t_end']:g}", rel, setup["goal"], "lower"))
            if options.get("arch") != "attention" and rel < best_rel:
                best_rel, best_model = rel, (name, model)
        accurate = target(f"closed-loop {potential} best operator mean |Δx|/A at 1000Δ, t ≤ {setup['t_end']:g}",
                          best_rel, setup["goal"], "lower")
        targets.append(accurate)
        if best_model is not None:
            speed = closed_loop_speed(best_model[1], potential, setup["x0_range"])
            figures[f"closed_{potential}_speed"] = dict(speed, operator=best_model[0])
            log(f"closed-loop {potential} {best_model[0]}: {speed['speedup']:.3g}× the fused Verlet over "
                f"{speed['n_oscillators']} oscillators")
            # A speedup counts only where the rollout it was timed on meets its accuracy goal.
            targets.append(target(f"closed-loop {potential} best operator speedup vs fused Numba Verlet at 1000Δ "
                                  f"({speed['n_oscillators']} oscillators)", speed["speedup"], 1.0, "higher",
                                  requires=[accurate]))
    return figures, targets


def closed_loop_speed(model, potential, x0_range, n_oscillators=1000, n_strides=50):
    """Wall time of ``n_strides`` closed-loop strides of ``n_oscillators`` unseen oscillators (one torch thread)
    against the fused Numba Verlet over the same 1000·n_strides steps; returns seconds and their ratio."""
    from surrogate.lstm.closed_loop import condition_array, reference_positions, unseen_oscillators
    from surrogate.lstm.position_operator import rollout_positions

    m, x0, k = unseen_oscillators(potential, n_oscillators, 7, x0_range=x0_range)
    ref, energy = reference_positions(potential, m, x0, k, 1000, 4, True)
    cond = condition_array(model.conditions, m, k, energy)
    params = params_1d("harmonic", n_oscillators, k=k) if potential == "harmonic" else params_1d(potential,
                                                                                                   n_oscillators)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t_model = median_time(lambda: rollout_positions(model, ref[:5].T[:, :, None], n_strides, cond))
    finally:
        torch.set_num_threads(threads)
    t_verlet = median_time(lambda: verlet_1d(x0, np.zeros(n_oscillators), m, potential, params, DT,
                                             1000 * n_strides, 1000 * n_strides))
    return {"n_oscillators": n_oscillators, "n_strides": n_strides, "model_s": t_model, "verlet_s": t_verlet,
            "speedup": t_verlet / t_model}

# --------------------------------------------------------------------- main
def main(argv=None):
    global EPOCHS_1D
    parser = _parser()
    args = parser.parse_args(argv)
    EPOCHS_1D = args.epochs_1d
    models = pathlib.Path(args.models or ("runs/lstm_models_quick" if args.quick else "runs/lstm_models"))
    models.mkdir(parents=True, exist_ok=True)
    parts = set(selected_parts(args).split(","))
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.train_only:
        train_all(args, models, parts, log)
        return
    figures, targets = collect(args, models, parts, log)
    write_result("lstm_operator", figures, targets)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, few epochs, short rollouts (< 2 min)")
    parser.add_argument("--models", default=None,
                        help="directory of trained model files (default runs/lstm_models, --quick: runs/lstm_models_quick)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--no-train", action="store_true", help="skip (and report) models missing from --models")
    parser.add_argument("--parts", default=None,
                        help="comma-separated: paper (teacher-forced rows), closed (closed-loop rows), lj16paper "
                             "(the paper's LJ16 box closed loop), 1d, lj, manybody (stage-1 rows); default: all, "
                             f"--quick: {QUICK_PARTS}")
    parser.add_argument("--only", default=None, help="with --train-only: one model, e.g. harmonic_400, lj16, manybody")
    parser.add_argument("--epochs-1d", type=int, default=EPOCHS_1D, help="training epochs of each 1D model (full mode)")
    return parser


def train_all(args, models, parts, log) -> None:
    """--train-only: train the selected (or --only one) model(s) into ``models``."""
    if args.only:
        if args.only == "lj16":
            train_lj(models, args.quick, args.device, log)
        elif args.only == "manybody":
            train_manybody_model(models, args.quick, args.device, log)
        else:
            states_only = args.only.endswith("_states_only")
            potential, stride = args.only.removesuffix("_states_only").rsplit("_", 1)
            train_1d(potential, int(stride), models, args.quick, args.device, log,
                     conditions=() if states_only else "auto")
        return
    for potential in ("harmonic", "double_well"):
        for stride in STRIDES_1D:
            if "1d" in parts:
                train_1d(potential, stride, models, args.quick, args.device, log)
    if "1d" in parts:
        train_1d("harmonic", 100, models, args.quick, args.device, log, conditions=())
    if "lj" in parts:
        train_lj(models, args.quick, args.device, log)
    if "manybody" in parts:
        train_manybody_model(models, args.quick, args.device, log)
    if "paper" in parts:
        paper_rows(models, args.quick, args.device, log)
        structured_teacher_rows(models, args.quick, args.device, log)
    if "closed" in parts:
        closed_loop_rows(models, args.quick, args.device, log)


def run(quick: bool) -> tuple[dict, list[dict]]:
    """(figures, targets) of every part, for the aggregator (models trained into runs/lstm_models[_quick] if missing)."""
    args = _parser().parse_args(["--quick"] if quick else [])
    models = pathlib.Path("runs/lstm_models_quick" if quick else "runs/lstm_models")
    models.mkdir(parents=True, exist_ok=True)
    return collect(args, models, set(selected_parts(args).split(",")), lambda msg: print(msg, flush=True))


def selected_parts(args) -> str:
    """--parts, or every part (full) / the issue #13 parts (--quick, to stay under 2 minutes)."""
    return args.parts or (QUICK_PARTS if args.quick else ALL_PARTS)


def collect(args, models, parts, log) -> tuple[dict, list[dict]]:
    """Evaluate the selected parts (training missing models unless --no-train); returns (figures, targets)."""
    potentials = ("harmonic",) if args.quick else ("harmonic", "double_well")
    strides = (100, 1000) if args.quick else STRIDES_1D
    figures, targets = {"models": str(models)}, []
    for part, rows in (("paper", paper_rows), ("paper", structured_teacher_rows), ("closed", closed_loop_rows)):
        if part in parts:
            f, t = rows(models, args.quick, args.device, log, not args.no_train)
            figures.update(f)
            targets += t
    if "lj16paper" in parts:  # issue #13 §4: the paper's LJ16 box, closed loop to t = 10⁴ (benchmarks/lstm_lj16.py)
        from benchmarks import lstm_lj16

        f, t = lstm_lj16.run(args.quick, models=models, log=log)
        figures["lj16_paper_box"] = f
        targets += t
    if "1d" in parts:
        for potential in potentials:
            for stride in strides:
                path = train_1d(potential, stride, models, args.quick, args.device, log, not args.no_train)
                if path is None:
                    figures[f"{potential}_{stride}"] = "no trained model"
                    log(f"{potential} {stride}Δ: no trained model in {models}")
                    continue
                # The paper's horizon is t = 10⁴; here at most 2000 strides (quick: 300) to fit the time budget.
                t_end = min(10_000.0, (300 if args.quick else 2000) * stride * DT)
                res = eval_1d(potential, stride, path, t_end)
                figures[f"{potential}_{stride}"] = res
                log(f"{potential:12s} Δ_R = {stride:5d}Δ  mean |Δx| to t = 10: {res['mean_error_t10']:.3g}, "
                    f"t = 100: {res['mean_error_t100']:.3g}, t = {res['t_end']:.0f}: {res['mean_error']:.3g} "
                    f"(paper {PAPER_1D_ERROR[stride]})  final {res['final_error']:.3g}; energy-corrected: "
                    f"{res['corrected_mean_error_t10']:.3g} / {res['corrected_mean_error_t100']:.3g} / "
                    f"{res['corrected_mean_error']:.3g}")
                targets.append(target(f"{potential} mean position error at {stride}Δ", res["mean_error"],
                                      PAPER_1D_ERROR[stride], "lower"))
                targets.append(target(f"{potential} mean position error at {stride}Δ, energy-corrected",
                                      res["corrected_mean_error"], PAPER_1D_ERROR[stride], "lower"))
        # Ablation: the paper's states-only model (it must infer √(k/m) from the window).
        path = train_1d("harmonic", 100, models, args.quick, args.device, log, not args.no_train, conditions=())
        if path is not None:
            res = eval_1d("harmonic", 100, path, (300 if args.quick else 2000) * 100 * DT)
            figures["harmonic_100_states_only"] = res
            log(f"harmonic     Δ_R =   100Δ  states only (paper inputs): mean |Δx| to t = 10: "
                f"{res['mean_error_t10']:.3g}, t = {res['t_end']:.0f}: {res['mean_error']:.3g}")
    if "lj" in parts:
        path = train_lj(models, args.quick, args.device, log, not args.no_train)
    if "lj" in parts and path is None:
        figures["lj16"] = "no trained model"
    elif "lj" in parts:
        res = eval_lj(path, 100.0 if args.quick else 1000.0, log)
        figures["lj16"] = res
        log(f"LJ16 Δ_R = 1000Δ: max|δE| {res['max_abs_deltaE']:.3g} (corrected {res['corrected_max_abs_deltaE']:.2g}), "
            f"speedup {res['speedup_at_1000']:.1f}× (ensemble of 256: {res['ensemble256_speedup_at_1000']:.1f}×), "
            f"break-even {res['break_even_stride_steps']:.0f} steps")
        accurate = target("LJ16 max |δE| over rollout (uncorrected)", res["max_abs_deltaE"], 1e-3, "lower")
        # The speedup is timed on the uncorrected rollout: it counts only where that rollout conserves energy.
        targets += [accurate,
                    target("LJ16 max |δE| with energy correction", res["corrected_max_abs_deltaE"], 1e-3, "lower"),
                    target("LJ16 speedup vs fused Numba Verlet at 1000Δ", res["speedup_at_1000"], 10.0, "higher",
                           requires=[accurate])]
    if "manybody" in parts:
        path = train_manybody_model(models, args.quick, args.device, log, not args.no_train)
    if "manybody" in parts and path is None:
        figures["manybody_argon"] = "no trained model"
    elif "manybody" in parts:
        res = eval_manybody(path, args.quick, log)
        figures["manybody_argon"] = res
        log(f"many-body: {res}")
        if "rdf_error" in res:
            targets += [target("many-body 256 Ar RDF error", res["rdf_error"], 0.05, "lower"),
                        target("many-body 256 Ar VACF error", res["vacf_error"], 0.10, "lower")]
        targets.append(target("many-body 2048 Ar strides completed", res["n2048_strides_completed"],
                              5 if args.quick else 20, "higher"))
    figures["quick"] = bool(args.quick)
    return figures, targets


if __name__ == "__main__":
    main()
