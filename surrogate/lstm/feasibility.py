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
onto the energy shell: it removes overlaps, it does not make the dynamics right. Pairs closer than
``core`` Å are first pushed apart to ``core`` along their separation (mass-weighted, so the centre of mass
stays), because the provider refuses atoms closer than its ``min_distance`` and the descent needs finite
forces; the RDF and velocity
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
    correction may then still fail, which the caller records); core : Å, the hard-core distance of the
    first pass (orthorhombic periodic or open cells).
    """

    def __init__(self, provider, *, min_alpha: float = 0.5, max_step: float = 0.05, max_iterations: int = 200,
                 core: float = 0.8):
        if not 0 < min_alpha <= 1:
            raise InputError(f"FeasibilityRepair: `min_alpha` must be in (0, 1], got {min_alpha!r}")
        if not max_step > 0 or int(max_iterations) < 1:
            raise InputError(f"FeasibilityRepair: need max_step > 0 Å and max_iterations ≥ 1, got {max_step!r}, "
                             f"{max_iterations!r}")
        self.provider = provider
        self.min_alpha, self.max_step, self.max_iterations = float(min_alpha), float(max_step), int(max_iterations)
        self.core = float(core)
        self.separated_pairs = 0
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

    def _separate_overlaps(self, system) -> None:
        """Push every pair closer than ``core`` apart to ``core`` (a few sweeps; mass-weighted)."""
        cell = np.asarray(system.cell, dtype=np.float64)
        box = np.where(np.asarray(system.pbc), np.diag(cell), 0.0)
        if np.abs(cell - np.diag(np.diag(cell))).max(initial=0) > 0:
            raise InputError("FeasibilityRepair: the hard-core pass needs an orthorhombic (or open) cell")
        m = np.asarray(system.masses, dtype=np.float64)
        x = system.positions
        for _ in range(20):
            d = x[None, :, :] - x[:, None, :]  # d[i, j] = x_j − x_i
            periodic = box > 0
            d[..., periodic] -= box[periodic] * np.round(d[..., periodic] / box[periodic])
            r = np.sqrt(np.sum(d**2, axis=-1))
            i, j = np.nonzero(np.triu((r < self.core) & (r > 0), 1))
            if len(i) == 0:
                return
            self.separated_pairs += len(i)
            for a, b in zip(i, j):
                push = (self.core - r[a, b]) * d[a, b] / r[a, b]  # along i → j
                x[a] -= push * m[b] / (m[a] + m[b])
                x[b] += push * m[a] / (m[a] + m[b])

    def compute(self, system, stress: bool = False):
        if self.e0 is None:
            return self.provider.compute(system, stress=stress)
        self._separate_overlaps(system)
        result = self.provider.compute(system, stress=stress)
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
                "max_iterations_hit": self.max_iterations_hit, "separated_pairs": self.separated_pairs,
                "min_alpha": self.min_alpha, "core_A": self.core,
                "max_step_A": self.max_step}
