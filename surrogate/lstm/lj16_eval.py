"""Closed-loop evaluation of large-stride operators on the paper's LJ16: δE, Maxwell–Boltzmann, RDF.

* :func:`closed_loop` runs an operator integrator (flat :class:`~surrogate.lstm.LSTMOperatorIntegrator`
  or :class:`~surrogate.lstm.manybody.ManyBodyOperatorIntegrator`) stride by stride and records the states,
  δE = |(E_t − E₀)/E₀| against the energy E₀ of the start (t = 0, before the Verlet warm-up), and where
  and why a guard stopped it;
* :func:`maxwell_speed_ks`: the Kolmogorov–Smirnov distance between the speeds of a run and the
  Maxwell–Boltzmann speed distribution at the run's own mean kinetic temperature;
* :func:`rdf_distance`: the RDF distance of ``surrogate compare`` (``surrogate.compare``: mdtraj RDF,
  ∫|g_s − g_r| dr / ∫g_r dr) with its tolerance and its pass rule, max(tolerance, the reference's own
  first-half-vs-second-half noise).
"""

from __future__ import annotations

import time

import numpy as np

from surrogate.compare.distances import Distance, Tolerances, rdf_error

from systems.errors import CloseContactError

from .integrator import OperatorInstabilityError

#: The RDF tolerance of ``surrogate compare`` (dimensionless, see :mod:`surrogate.compare.distances`).
RDF_TOLERANCE = Tolerances().rdf


def maxwell_speed_ks(velocities, masses, kT: float | None = None) -> dict:
    """KS distance of the speeds in ``velocities`` [T, n, 3] (Å/τ) from Maxwell–Boltzmann.

    masses [n] amu; kT (eV): the temperature of the reference distribution, default the run's
    mean kinetic temperature kT = ⟨m v²⟩/3 over all atoms and frames. Speeds are reduced to
    u = |v|·√(m/kT), which is χ-distributed with 3 degrees of freedom (scipy's ``maxwell``) at
    equilibrium whatever the masses. Returns {"ks", "kT_eV", "samples"}: ks = sup |F_run − F_MB|
    (0 … 1; frames are correlated, so it is a distance, not a p-value).
    """
    from scipy import stats

    v = np.asarray(velocities, dtype=np.float64)
    m = np.asarray(masses, dtype=np.float64)[None, :]
    m_v2 = m * np.sum(v**2, axis=-1)  # [T, n]
    if kT is None:
        kT = float(np.mean(m_v2)) / 3.0
    u = np.sqrt(m_v2 / kT).ravel()
    return {"ks": float(stats.kstest(u, stats.maxwell.cdf).statistic), "kT_eV": float(kT), "samples": int(u.size)}


def _run(name, positions, box):
    from surrogate.compare.run_data import RunData

    positions = np.asarray(positions, dtype=np.float64)
    t, n, _ = positions.shape
    # Element 18 only labels the particles for mdtraj's topology; the RDF depends on positions and box alone.
    return RunData(name, np.full(n, 18), np.ones(n), positions, np.arange(t, dtype=np.float64),
                   np.repeat(np.diag(np.asarray(box, dtype=np.float64))[None], t, 0), np.ones(3, dtype=bool))


def rdf_distance(reference_positions, positions, box, *, r_max: float | None = None, bin_width: float = 0.05,
                 tolerance: float | None = RDF_TOLERANCE) -> dict:
    """The ``surrogate compare`` RDF distance of a run from a reference run, judged as compare judges it.

    reference_positions, positions : [T, n, 3] Å (any wrapping); box : [3] Å edges; r_max Å (default half
    the shortest edge, compare's minimum-image limit); bin_width Å. Returns {"rdf_error", "noise"
    (first vs second half of the reference), "tolerance", "limit" = max(tolerance, noise), "passed",
    "r", "g_reference", "g"}.
    """
    from surrogate.compare.structure import rdf

    r_max = 0.5 * float(np.min(box)) if r_max is None else float(r_max)
    ref = np.asarray(reference_positions)
    g_ref = rdf(_run("reference", ref, box), 18, 18, r_max, bin_width)
    g = rdf(_run("run", positions, box), 18, 18, r_max, bin_width)
    half = len(ref) // 2
    noise = rdf_error(rdf(_run("first half", ref[:half], box), 18, 18, r_max, bin_width),
                      rdf(_run("second half", ref[half:], box), 18, 18, r_max, bin_width))
    d = Distance("rdf", rdf_error(g_ref, g), tolerance, noise=noise)
    return {"rdf_error": d.value, "noise": noise, "tolerance": tolerance, "limit": d.limit, "passed": d.passed,
            "r": g_ref.x, "g_reference": g_ref.y, "g": np.interp(g_ref.x, g.x, g.y)}


def closed_loop(integrator, system, provider, n_strides: int, e0: float | None = None, log=print,
                after_initialize=None) -> dict:
    """Run ``integrator`` (Verlet warm-up in ``initialize``, then ``n_strides`` operator strides) on ``system``.

    provider : the system's force provider (E₀ of the start when ``e0`` is None); every stride's energy
    comes from the integrator's own force evaluation (``last_result``) when it made one.
    after_initialize : called with the integrator after its warm-up (e.g. to arm a
    :class:`~surrogate.lstm.feasibility.FeasibilityRepair` with the integrator's E₀).
    Returns {"strides_completed", "strides_requested", "completed", "stop_reason", "max_abs_deltaE" (over
    the completed strides; inf when the run did not complete), "max_abs_deltaE_completed_part",
    "wall_s" (operator strides only, warm-up excluded), "positions" [S, n, 3], "velocities" [S, n, 3],
    "deltaE" [S]}.
    """
    if e0 is None:
        e0 = provider.compute(system).energy + system.kinetic_energy()
    integrator.initialize(system)
    if after_initialize is not None:
        after_initialize(integrator)
    xs, vs, es = [], [], []
    done, reason, wall = 0, None, 0.0
    for _ in range(int(n_strides)):
        t0 = time.perf_counter()
        try:
            integrator.step(system)
        except (OperatorInstabilityError, CloseContactError) as err:  # a prediction that overlaps two atoms
            wall += time.perf_counter() - t0
            reason = f"{type(err).__name__}: {err}"
            log(f"closed loop stopped after {done} of {n_strides} strides: {reason}")
            break
        wall += time.perf_counter() - t0
        result = integrator.last_result
        energy = (result if result is not None else provider.compute(system)).energy
        xs.append(system.positions.copy())
        vs.append(system.velocities.copy())
        es.append(energy + system.kinetic_energy())
        done += 1
    delta = np.abs((np.asarray(es) - e0) / e0) if es else np.zeros(0)
    worst = float(delta.max()) if done else float("inf")
    return {"strides_completed": done, "strides_requested": int(n_strides), "completed": done == int(n_strides),
            "stop_reason": reason, "max_abs_deltaE": worst if done == int(n_strides) else float("inf"),
            "max_abs_deltaE_completed_part": worst, "E0": float(e0), "wall_s": wall,
            "positions": np.array(xs).reshape(done, system.n_atoms, 3),
            "velocities": np.array(vs).reshape(done, system.n_atoms, 3),
            "deltaE": delta}


def closest_pair(positions, box) -> float:
    """Smallest minimum-image pair distance (Å) in positions [n, 3] of an orthorhombic box [3] Å."""
    d = positions[:, None] - positions[None]
    d -= box * np.round(d / box)
    r = np.sqrt(np.sum(d**2, axis=-1))
    return float(r[np.triu_indices(len(positions), 1)].min())


def one_step_diagnostics(predict, positions, velocities, forces, pot, e0: float, starts, stride: float,
                         window: int = 5) -> dict:
    """Teacher-forced one-stride errors of an operator on a reference trajectory, and why a closed loop fails.

    predict(x_window [W,n,3], v_window [W,n,3], f_window [W,n,3]) -> (x [n,3], v [n,3]) one stride on;
    positions, velocities, forces : reference states one stride apart [T, n, 3] (Å, Å/τ, eV/Å); pot : the
    fused :class:`~integrators.fused_verlet.PeriodicLJ`; e0 : total energy (eV); starts : indices of the
    windows' last states; stride : Δ_R (τ). Returns RMS position/velocity errors, the same for the
    ballistic guess x + v·Δ_R (no skill), the predictions' and the truth's mean closest pair distance (Å),
    the fraction of predictions whose potential energy alone exceeds E₀ (no energy correction exists), and
    the wall time of one prediction (the network alone: the floor of a closed-loop stride's cost).
    """
    box = pot.box
    ex, ev, eb, close_p, close_t, above = [], [], [], [], [], []
    wall = 0.0
    for s in starts:
        win = slice(s - window + 1, s + 1)
        t0 = time.perf_counter()
        x, v = predict(positions[win], velocities[win], forces[win])
        wall += time.perf_counter() - t0
        ex.append(np.mean((x - positions[s + 1]) ** 2))
        ev.append(np.mean((v - velocities[s + 1]) ** 2))
        eb.append(np.mean((positions[s] + stride * velocities[s] - positions[s + 1]) ** 2))
        close_p.append(closest_pair(x, box))
        close_t.append(closest_pair(positions[s + 1], box))
        above.append(float(pot.energy(x[None])[0]) > e0)
    return {"rmse_position": float(np.sqrt(np.mean(ex))), "rmse_velocity": float(np.sqrt(np.mean(ev))),
            "rmse_position_ballistic": float(np.sqrt(np.mean(eb))),
            "rms_velocity": float(np.sqrt(np.mean(velocities[list(starts)] ** 2))),
            "closest_pair_predicted": float(np.mean(close_p)), "closest_pair_true": float(np.mean(close_t)),
            "fraction_potential_above_E0": float(np.mean(above)), "windows": len(list(starts)),
            "s_per_prediction": wall / len(list(starts))}


def stride_map_amplification(pot, masses, positions, velocities, stride_steps: int, timestep: float = 0.001,
                             epsilon: float = 1e-6, seed: int = 0) -> dict:
    """How much the exact stride map amplifies a small position error in one stride.

    From each reference state (positions, velocities [T, n, 3]), fused Verlet advances the state and a copy
    with positions perturbed by N(0, ε) Å over ``stride_steps`` steps; the ratio of RMS separations after
    and before is the one-stride amplification. A closed-loop operator's own error grows by about this
    factor per stride before the network can correct it. Returns {"median", "p90", "states"}.
    """
    from integrators.fused_verlet import verlet_lj

    rng = np.random.default_rng(seed)
    ratios = []
    for x, v in zip(positions, velocities):
        dx = rng.normal(0.0, epsilon, x.shape)
        tr = verlet_lj(np.stack([x, x + dx]), np.stack([v, v]), masses, pot, timestep, stride_steps, stride_steps)
        ratios.append(np.sqrt(np.mean((tr.positions[-1, 1] - tr.positions[-1, 0]) ** 2)) / np.sqrt(np.mean(dx**2)))
    return {"median": float(np.median(ratios)), "p90": float(np.percentile(ratios, 90)), "states": len(ratios)}
