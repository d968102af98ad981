"""Closed-loop accuracy of a positions-only operator: free-running rollouts against Verlet.

A user runs an operator closed-loop: every stride is predicted from the model's
own previous predictions. :func:`closed_loop_error` starts B unseen oscillators
from a true window of W positions (Verlet at Δ = 0.001), rolls the model out
for ``t_end`` and reports the mean |x_R − x_GT| up to each horizon, absolute (Å)
and divided by each oscillator's amplitude A = (max x − min x)/2 of its
reference trajectory (harmonic from rest: A = |x0|). Once the phase is lost the
mean error of an oscillator is 8A/π² ≈ 0.81 A, which is the scale to read
these numbers against.
"""

from __future__ import annotations

import numpy as np

from integrators.fused_verlet import params_1d, verlet_1d
from systems.errors import InputError

from .data import PAPER_TIMESTEP
from .position_operator import PositionOperator, rollout_positions

_FUSED = {"harmonic": "harmonic", "double_well": "double_well", "lj": "lennard_jones", "rugged": "rugged"}


def unseen_oscillators(potential: str, n: int, seed: int, mass_range=(1.0, 10.0), k_range=(1.0, 10.0),
                       x0_range=(-1.0, 1.0)):
    """Seeded (mass amu [n], x0 Å [n], k eV/Å² [n]; k = 1 except harmonic) drawn from the given ranges."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(*mass_range, n)
    x0 = rng.uniform(*x0_range, n)
    k = rng.uniform(*k_range, n) if potential == "harmonic" else np.ones(n)
    return m, x0, k


def condition_array(names, mass, k, energy):
    """The conditions a model reads, [n, C] (None for a model without conditions), from per-oscillator
    mass [n] amu, k [n] eV/Å² and total energy [n] eV: "mass", "k", "omega" = √(k/m) (1/ASE time), "energy"
    (the names of :func:`~surrogate.lstm.data.condition_values`)."""
    if not names:
        return None
    mass, k, energy = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (mass, k, energy))
    values = {"mass": mass, "k": k, "omega": np.sqrt(k / mass), "energy": energy}
    unknown = [c for c in names if c not in values]
    if unknown:
        raise InputError(f"condition_array: unknown conditions {unknown}; an oscillator has {sorted(values)}")
    return np.stack([values[c] for c in names], 1)


def reference_positions(potential, m, x0, k, stride_steps: int, n_strides: int, with_energy: bool = False):
    """Verlet positions [n_strides + 1, n] (Å) every Δ_R from rest at x0 (and the total energies [n], eV,
    with ``with_energy``)."""
    n = len(m)
    params = params_1d("harmonic", n, k=k) if potential == "harmonic" else params_1d(_FUSED[potential], n)
    tr = verlet_1d(np.asarray(x0, float), np.zeros(n), np.asarray(m, float), _FUSED[potential], params,
                   PAPER_TIMESTEP, n_strides * int(stride_steps), int(stride_steps))
    if with_energy:
        kinetic = 0.5 * np.asarray(m, float) * tr.velocities[0] ** 2
        return np.asarray(tr.positions), np.asarray(tr.potential_energy[0] + kinetic)
    return np.asarray(tr.positions)


def closed_loop_error(model: PositionOperator, potential: str, stride_steps: int, t_end: float, *, n_test: int = 40,
                      seed: int = 123, horizons=(10.0, 100.0, 1000.0), **ranges) -> dict:
    """Mean |Δx| (Å) and mean |Δx|/A of closed-loop rollouts of ``n_test`` unseen oscillators up to each horizon.

    Conditions are fed where the model takes them (:func:`condition_array`; "energy" is the start's total
    energy, one potential evaluation per oscillator, as the FlashMD energy correction needs).
    ranges: mass_range, k_range, x0_range.
    """
    m, x0, k = unseen_oscillators(potential, n_test, seed, **ranges)
    stride = stride_steps * PAPER_TIMESTEP
    n_strides = int(round(t_end / stride))
    w = model.window
    ref, energy = reference_positions(potential, m, x0, k, stride_steps, n_strides + w - 1, True)  # [T, n], [n]
    cond = condition_array(model.conditions, m, k, energy)
    out = rollout_positions(model, ref[:w].T[:, :, None], n_strides, cond).double().cpu().numpy()[:, :, 0]
    truth = ref[w:w + n_strides]
    err = np.abs(out - truth)  # [S, n]
    amp = 0.5 * (ref.max(0) - ref.min(0))
    rel = err / amp
    finite = np.isfinite(err)
    result = {"t_end": n_strides * stride, "n_strides": n_strides, "n_test": n_test,
              "diverged_fraction": float(1 - finite[-1].mean())}
    for t in tuple(h for h in horizons if h <= t_end + 1e-9) + (t_end,):
        s = max(1, int(round(t / stride)) - (w - 1))  # strides after the warm-up window, up to time t
        e, r = err[:s], rel[:s]
        result[f"mean_abs_t{t:g}"] = float(np.mean(e)) if np.isfinite(e).all() else float("inf")
        result[f"mean_rel_t{t:g}"] = float(np.mean(r)) if np.isfinite(r).all() else float("inf")
    # Which oscillators carry the mean (e.g. starts at an unstable equilibrium, where errors grow exponentially).
    per = np.where(np.isfinite(rel).all(0), rel.mean(0), np.inf)
    result["median_rel"] = float(np.median(per))
    result["worst"] = [{"mass": float(m[i]), "x0": float(x0[i]), "k": float(k[i]), "mean_rel": float(per[i])}
                       for i in np.argsort(-per)[:3]]
    return result
