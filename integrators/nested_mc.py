"""Nested Markov chain Monte Carlo: n surrogate sweeps form one proposal, the reference corrects it.

Iftimie, Salahub, Wei and Schofield, J. Chem. Phys. 113, 4852 (2000); Gelb,
J. Chem. Phys. 118, 7747 (2003). An inner Metropolis chain that is reversible
with respect to exp(−β U_sur) runs ``inner_steps`` sweeps from x to y; the
outer chain accepts y with min(1, exp(−β [W(y) − W(x)])), W = U_ref − U_sur.
Because the inner kernel satisfies π_sur(x) K(x→y) = π_sur(y) K(y→x), this is
Metropolis–Hastings with target exp(−β U_ref): exact under the reference, with
one reference call per ``inner_steps`` surrogate sweeps.

The inner chain is a :class:`~integrators.monte_carlo.MetropolisMC` on the
surrogate (its Numba fast path applies when the surrogate is a pair
potential). Its step size adapts during its first ``adapt_sweeps`` sweeps
only (that warm-up is not exact and is excluded from the counters); after
that the inner kernel is fixed and reversible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from systems import units
from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System

from ._common import make_rng, positive, result_from_dict, result_to_dict, rng_state, set_rng_state
from .delayed_acceptance import require_provider
from .integrator_base import Integrator
from .monte_carlo import MetropolisMC
from .protocols import ForceProvider
from .provider_state import load_provider_state, provider_state_dict


class NestedMC(Integrator):
    """Nested-chain MC; one ``step()`` is one outer proposal (``inner_steps`` surrogate sweeps, one reference call).

    ``provider`` is the reference. Counters after the inner adaptation:
    ``outer_rate`` (accepted outer proposals / proposals), ``inner_rate`` (the
    inner chain's acceptance), ``production_reference_calls``;
    ``reference_calls`` counts every reference call.

    Parameters
    ----------
    surrogate, reference : ForceProvider (energies eV)
    temperature_K : float, K
    inner_steps : int ≥ 1, surrogate sweeps per outer proposal
    step_size, mode, target_acceptance, adapt, adapt_sweeps, axes, skin : of the inner MetropolisMC
    seed : int or np.random.Generator (one generator drives both chains)
    """

    name = "NestedMC"
    timestep = 0.0

    def __init__(self, surrogate: ForceProvider, reference: ForceProvider, *, temperature_K: float,
                 inner_steps: int = 10, step_size: float = 0.1, mode: str = "single", target_acceptance: float = 0.5,
                 adapt: bool = True, adapt_sweeps: int = 100, axes=(0, 1, 2), seed=None, skin: float = 2.0):
        require_provider(surrogate, "surrogate", self.name)
        require_provider(reference, "reference", self.name)
        if int(inner_steps) != inner_steps or inner_steps < 1:
            raise InputError(f"{self.name}: `inner_steps` must be a whole number ≥ 1, got {inner_steps!r}")
        self.temperature_K = positive(temperature_K, "temperature_K", self.name)
        self.inner_steps = int(inner_steps)
        self.rng = make_rng(seed)
        self.inner = MetropolisMC(surrogate, temperature_K=temperature_K, step_size=step_size, mode=mode,
                                  target_acceptance=target_acceptance, adapt=adapt, adapt_sweeps=adapt_sweeps,
                                  axes=axes, seed=self.rng, skin=skin)
        self.surrogate = surrogate
        self.provider = reference
        self.want_stress = False
        self.energy: float | None = None  # U_ref at the current state, eV
        self.outer_steps = 0
        self.accepted = 0  # production outer proposals
        self.attempted = 0
        self.reference_calls = 0
        self.production_reference_calls = 0
        self.last_accepted = float("nan")
        self._result: ForceResult | None = None

    # ------------------------------------------------------------- protocol
    @property
    def beta(self) -> float:
        """1 / (k_B T) in 1/eV."""
        return 1.0 / (units.kB * self.temperature_K)

    @property
    def last_result(self) -> ForceResult | None:
        """The reference's ForceResult at the current state."""
        return self._result

    @property
    def outer_rate(self) -> float:
        """Fraction of production outer proposals accepted (nan before any)."""
        return self.accepted / self.attempted if self.attempted else float("nan")

    @property
    def acceptance_rate(self) -> float:
        """The outer (reference) acceptance rate, as MetropolisMC's ``acceptance_rate`` for run summaries."""
        return self.outer_rate

    @property
    def inner_rate(self) -> float:
        """The inner surrogate chain's acceptance since its adaptation ended."""
        return self.inner.acceptance_rate

    @property
    def step_size(self) -> float:
        """The inner chain's displacement half-width, Å."""
        return self.inner.step_size

    def thermo_fields(self) -> dict[str, float]:
        return {"nested_outer_accepted": self.last_accepted, "mc_acceptance": self.inner.last_acceptance,
                "mc_step_A": self.inner.step_size, "reference_calls": float(self.reference_calls)}

    def conserved_energy(self, epot: float, ekin: float) -> float:
        """MC has no conserved dynamical quantity."""
        return float("nan")

    def initialize(self, system: System) -> None:
        self.inner.initialize(system)
        self._result = self.provider.compute(system)
        self.reference_calls += 1
        self.energy = float(self._result.energy)

    def step(self, system: System) -> None:
        """One outer proposal: ``inner_steps`` surrogate sweeps, then the reference's accept/reject."""
        if self.energy is None or self.inner.energy is None:
            self.initialize(system)
        production = self.inner.sweeps >= self.inner.adapt_sweeps  # the inner kernel is fixed for this proposal
        old_positions = system.positions.copy()
        old_sur, old_inner_result = self.inner.energy, self.inner._result
        u = self.rng.random()
        for _ in range(self.inner_steps):
            self.inner.step(system)
        trial = self.provider.compute(system)
        self.reference_calls += 1
        delta = (float(trial.energy) - self.inner.energy) - (self.energy - old_sur)  # ΔW, eV
        accept = bool(np.isfinite(delta)) and (delta <= 0.0 or u < np.exp(-self.beta * delta))
        if accept:
            self.energy = float(trial.energy)
            self._result = trial
        else:
            system.positions[:] = old_positions
            self.inner.energy, self.inner._result = old_sur, old_inner_result
        self.outer_steps += 1
        self.last_accepted = float(accept)
        if production:
            self.attempted += 1
            self.accepted += int(accept)
            self.production_reference_calls += 1

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "rng": rng_state(self.rng), "inner": self.inner.state_dict(),
                "energy": self.energy, "outer_steps": self.outer_steps, "accepted": self.accepted,
                "attempted": self.attempted, "reference_calls": self.reference_calls,
                "production_reference_calls": self.production_reference_calls, "last_accepted": self.last_accepted,
                "result": result_to_dict(self._result), "surrogate_provider": provider_state_dict(self.surrogate)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != type(self).__name__:
            raise ValueError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        self.inner.load_state_dict(state["inner"])
        set_rng_state(self.rng, state["rng"])  # the same generator as the inner chain's
        self.energy = None if state["energy"] is None else float(state["energy"])
        self.outer_steps = int(state["outer_steps"])
        self.accepted, self.attempted = int(state["accepted"]), int(state["attempted"])
        self.reference_calls = int(state["reference_calls"])
        self.production_reference_calls = int(state["production_reference_calls"])
        self.last_accepted = float(state["last_accepted"])
        self._result = result_from_dict(state["result"])
        load_provider_state(self.surrogate, state.get("surrogate_provider"))
