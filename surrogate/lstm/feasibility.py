"""Energy-feasibility repair: the step that lets the FlashMD energy correction exist at every stride.

The energy correction rescales the momenta by α = √((E₀ − U)/K) after a stride. It has no real
solution when the predicted positions alone lie above the energy shell, U(x) > E₀: in a dense LJ
cluster one predicted pair closer than ~0.9σ is enough (measured on the paper's LJ16 at
Δ_R = 1000Δ: the flat and the many-body operators both put U hundreds of eV above E₀ on the
first stride). :class:`FeasibilityRepair` wraps the system's force provider: once armed with E₀, every
evaluation whose potential energy exceeds E₀ − a²·K (a = ``min_alpha``, K the kinetic energy of the
predicted velocities) moves the positions down the potential-energy gradient (steepest descent, the
most-pushed atom moving ``max_step`` Å per iteration) until U ≤ E₀ − a²K, so that the correction then
finds α ≥ a. It is a projection onto the energy-feasible set, as the correction itself is a projection
onto the energy shell: it removes overlaps, it does not make the dynamics right; the RDF and velocity
rows of the benchmark judge what is left. Its cost (extra force calls) and how often it acted are
counted (:attr:`repaired_strides`, :attr:`extra_force_calls`).

Wrap the provider the integrator evaluates after each stride (``energy_provider`` of
:class:`~surrogate.lstm.LSTMOperatorIntegrator`, the provider of
:class:`~surrogate.lstm.manybody.ManyBodyOperatorIntegrator`) and :meth:`arm` it after ``initialize``:
unarmed it passes every call through (the Verlet warm-up is not touched).
"""

from __future__ import annotations

import numpy as np

from systems.errors import InputError


class FeasibilityRepair:
    """Force-provider wrapper that, once armed, repairs positions whose potential energy lies above E₀ − a²K.

    provider : the system's force provider; min_alpha : a in (0, 1], the smallest momentum scale the
    correction may then need; max_step : Å moved by the most-pushed atom per descent iteration;
    max_iterations : cap per stride (the result is returned as it is when the cap is hit, and the
    correction may then still fail, which the caller records).
    """

    def __init__(self, provider, *, min_alpha: float = 0.5, max_step: float = 0.05, max_iterations: int = 200):
        if not 0 < min_alpha <= 1:
            raise InputError(f"FeasibilityRepair: `min_alpha` must be in (0, 1], got {min_alpha!r}")
        if not max_step > 0 or int(max_iterations) < 1:
            raise InputError(f"FeasibilityRepair: need max_step > 0 Å and max_iterations ≥ 1, got {max_step!r}, "
                             f"{max_iterations!r}")
        self.provider = provider
        self.min_alpha, self.max_step, self.max_iterations = float(min_alpha), float(max_step), int(max_iterations)
        self.e0 = None
        self.repaired_strides = 0
        self.extra_force_calls = 0
        self.max_iterations_hit = 0

    def __getattr__(self, name):  # everything else (cutoff, sigma, ...) is the wrapped provider's
        if name == "provider":
            raise AttributeError(name)
        return getattr(self.provider, name)

    def arm(self, e0: float) -> None:
        """Start repairing against the total energy ``e0`` (eV)."""
        self.e0 = float(e0)

    def compute(self, system, stress: bool = False):
        result = self.provider.compute(system, stress=stress)
        if self.e0 is None:
            return result
        limit = self.e0 - self.min_alpha**2 * system.kinetic_energy()
        if result.energy <= limit:
            return result
        self.repaired_strides += 1
        for _ in range(self.max_iterations):
            forces = np.asarray(result.forces)
            f_max = float(np.sqrt(np.max(np.sum(forces**2, axis=1))))
            if not np.isfinite(f_max) or f_max == 0:
                break
            system.positions += forces * (self.max_step / f_max)
            result = self.provider.compute(system, stress=stress)
            self.extra_force_calls += 1
            if result.energy <= limit:
                return result
        self.max_iterations_hit += 1
        return result

    def stats(self) -> dict:
        return {"repaired_strides": self.repaired_strides, "extra_force_calls": self.extra_force_calls,
                "max_iterations_hit": self.max_iterations_hit, "min_alpha": self.min_alpha,
                "max_step_A": self.max_step}
