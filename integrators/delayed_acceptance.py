"""Delayed-acceptance Metropolis Monte Carlo: a cheap surrogate screens, the reference decides.

Christen and Fox, J. Comput. Graph. Stat. 14, 795 (2005). A symmetric proposal
x → y is first accepted with α₁ = min(1, exp(−β ΔU_sur)); only survivors are
evaluated with the reference and accepted with α₂ = min(1, exp(−β (ΔU_ref −
ΔU_sur))). The product α₁ α₂ satisfies detailed balance with respect to
exp(−β U_ref), so the chain samples the reference's Boltzmann distribution
exactly, whatever the surrogate; a good surrogate only makes it cheaper (a
proposal it rejects costs no reference call).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from systems.state import System

from ._common import result_from_dict, result_to_dict
from .monte_carlo import MetropolisMC
from .protocols import ForceProvider
from .provider_state import load_provider_state, provider_state_dict


def require_provider(provider, name: str, owner: str) -> None:
    """TypeError naming ``name`` unless ``provider`` has ``compute(system, stress=False)``."""
    if not callable(getattr(provider, "compute", None)):
        raise TypeError(f"{owner}: `{name}` must have compute(system, stress=False), got {type(provider).__name__}")


class DelayedAcceptanceMC(MetropolisMC):
    """Two-stage Metropolis MC; one ``step()`` is one sweep (N single-particle proposals, or one all-particle one).

    ``provider`` is the reference (what the driver reports, what the chain is
    exact under); ``surrogate`` screens proposals. Moves, step-size adaptation
    (on the overall acceptance, during the first ``adapt_sweeps`` sweeps only)
    and ``axes`` are those of :class:`~integrators.monte_carlo.MetropolisMC`;
    every proposal costs one surrogate call, and one reference call if it
    passes stage 1. Counters (production sweeps only, after adaptation):
    ``stage1_rate`` (survivors / proposals), ``stage2_rate`` (accepted /
    survivors); ``reference_calls`` and ``surrogate_calls`` count every call,
    ``production_reference_calls`` those after adaptation.

    Parameters
    ----------
    surrogate, reference : ForceProvider (energies eV)
    temperature_K : float, K
    step_size : float, Å; mode : 'single' | 'all'; axes, target_acceptance, adapt, adapt_sweeps, seed:
        as for MetropolisMC.
    """

    name = "DelayedAcceptanceMC"

    def __init__(self, surrogate: ForceProvider, reference: ForceProvider, *, temperature_K: float,
                 step_size: float = 0.1, mode: str = "all", target_acceptance: float = 0.5, adapt: bool = True,
                 adapt_sweeps: int = 100, axes=(0, 1, 2), seed=None):
        require_provider(surrogate, "surrogate", self.name)
        require_provider(reference, "reference", self.name)
        super().__init__(reference, temperature_K=temperature_K, step_size=step_size, mode=mode,
                         target_acceptance=target_acceptance, adapt=adapt, adapt_sweeps=adapt_sweeps, axes=axes,
                         seed=seed)
        self.surrogate = surrogate
        self.surrogate_energy: float | None = None  # eV, U_sur at the current state
        self.reference_calls = 0
        self.surrogate_calls = 0
        self.production_reference_calls = 0
        self.stage1_passed = 0  # production proposals that survived stage 1
        self.last_stage1 = float("nan")
        self.last_stage2 = float("nan")

    # ------------------------------------------------------------- protocol
    @property
    def stage1_rate(self) -> float:
        """Fraction of production proposals accepted by the surrogate (nan before any)."""
        return self.stage1_passed / self.attempted if self.attempted else float("nan")

    @property
    def stage2_rate(self) -> float:
        """Fraction of stage-1 survivors the reference accepted (production; nan before any)."""
        return self.accepted / self.stage1_passed if self.stage1_passed else float("nan")

    @property
    def last_result(self):
        """The reference's ForceResult at the current state (energy eV, forces eV/Å)."""
        return self._result

    def thermo_fields(self) -> dict[str, float]:
        return {"mc_acceptance": self.last_acceptance, "mc_step_A": self.step_size,
                "da_stage1_acceptance": self.last_stage1, "da_stage2_acceptance": self.last_stage2,
                "reference_calls": float(self.reference_calls)}

    def initialize(self, system: System) -> None:
        result = self.provider.compute(system)
        self.reference_calls += 1
        self.energy = float(result.energy)
        self._result = result
        self.surrogate_energy = float(self.surrogate.compute(system).energy)
        self.surrogate_calls += 1

    def step(self, system: System) -> None:
        """One sweep of two-stage proposals."""
        if self.energy is None or self.surrogate_energy is None:
            self.initialize(system)
        super().step(system)

    # ----------------------------------------------------------------- moves
    def _is_pair_potential(self) -> bool:
        return False  # the reference is asked for full energies: no local ΔE shortcut

    def _all_particle_move(self, system: System) -> tuple[int, int]:
        moved = np.arange(system.n_atoms)
        return self._proposals(system, [moved], self._draw_displacements(system.n_atoms)[None], self.rng.random((1, 2)))

    def _generic_sweep(self, system: System) -> tuple[int, int]:
        n = system.n_atoms
        atoms = self.rng.integers(0, n, size=n)
        displacements = self._draw_displacements(n)
        uniforms = self.rng.random((n, 2))
        return self._proposals(system, [atoms[k:k + 1] for k in range(n)], displacements[:, None, :], uniforms)

    def _proposals(self, system: System, moved, displacements, uniforms) -> tuple[int, int]:
        """Proposal k displaces atoms ``moved[k]`` by ``displacements[k]`` (Å); ``uniforms[k]`` = (u₁, u₂)."""
        production = self.sweeps >= self.adapt_sweeps  # this sweep will be counted by MetropolisMC.step
        accepted = passed = 0
        for k, atoms in enumerate(moved):
            old = system.positions[atoms].copy()
            system.positions[atoms] += displacements[k]
            e_sur = float(self.surrogate.compute(system).energy)
            self.surrogate_calls += 1
            d_sur = e_sur - self.surrogate_energy
            if not self._accept(d_sur, uniforms[k, 0]):
                system.positions[atoms] = old
                continue
            passed += 1
            trial = self.provider.compute(system)
            self.reference_calls += 1
            self.production_reference_calls += production
            d_ref = float(trial.energy) - self.energy
            if self._accept(d_ref - d_sur, uniforms[k, 1]):
                self.energy = float(trial.energy)
                self.surrogate_energy = e_sur
                self._result = trial
                accepted += 1
            else:
                system.positions[atoms] = old
        n = len(moved)
        self.last_stage1 = passed / n
        self.last_stage2 = accepted / passed if passed else float("nan")
        if production:
            self.stage1_passed += passed
        return accepted, n

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update({"surrogate_energy": self.surrogate_energy, "reference_calls": self.reference_calls,
                      "surrogate_calls": self.surrogate_calls,
                      "production_reference_calls": self.production_reference_calls,
                      "stage1_passed": self.stage1_passed, "last_stage1": self.last_stage1,
                      "last_stage2": self.last_stage2, "result": result_to_dict(self._result),
                      "surrogate_provider": provider_state_dict(self.surrogate)})
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.surrogate_energy = None if state["surrogate_energy"] is None else float(state["surrogate_energy"])
        self.reference_calls = int(state["reference_calls"])
        self.surrogate_calls = int(state["surrogate_calls"])
        self.production_reference_calls = int(state["production_reference_calls"])
        self.stage1_passed = int(state["stage1_passed"])
        self.last_stage1, self.last_stage2 = float(state["last_stage1"]), float(state["last_stage2"])
        self._result = result_from_dict(state["result"])
        load_provider_state(self.surrogate, state.get("surrogate_provider"))
