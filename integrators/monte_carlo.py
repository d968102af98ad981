"""Metropolis Monte Carlo with single-particle or all-particle displacement moves."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from systems import units
from systems.errors import InputError
from systems.forces import ForceResult
from systems.neighbor_list import build_pairs
from systems.potentials.pair_potential import PairPotential
from systems.state import System

from ._common import make_rng, positive, result_from_dict, result_to_dict, rng_state, set_rng_state
from .integrator_base import Integrator
from .mc_kernels import single_particle_sweep
from .protocols import ForceProvider

MODES = ("single", "all")


class MetropolisMC(Integrator):
    """Metropolis Monte Carlo in the canonical ensemble; one ``step()`` is one sweep.

    A sweep is N single-particle moves (``mode='single'``: a random atom is
    displaced uniformly in a cube of half-width ``step_size``) or one move of
    all atoms at once (``mode='all'``). A move is accepted with probability
    min(1, exp(−ΔE / k_B T)). Velocities are not touched; ``timestep`` is 0.

    During the first ``adapt_sweeps`` sweeps (if ``adapt``) the step size is
    scaled after every sweep by exp(acceptance − target), clipped to [0.5, 2];
    then it is frozen, so the production chain keeps detailed balance.
    ``acceptance_log`` holds (sweep, acceptance, step_size Å) of the adaptation
    window; ``acceptance_rate`` is the rate since it ended.

    Single-particle moves under a pair potential of :mod:`systems.potentials`
    (a ``PairPotential``: Lennard-Jones, Morse) use a Numba kernel that
    computes ΔE from the moved atom's neighbors; any other provider is asked
    for the full energy after each move (fine for small systems).

    Parameters
    ----------
    provider : ForceProvider
    temperature_K : float, K
    step_size : float, Å; initial half-width of the displacement cube.
    mode : 'single' or 'all'
    target_acceptance : float in (0, 1)
    adapt : bool; adapt_sweeps : int
    axes : sequence of the Cartesian axes moves act on (default all three;
        ``(0,)`` for a 1D system).
    seed : int or np.random.Generator
    skin : float, Å; skin of the pair fast path's neighbor list (at least 2.5 × the
        longest move of a sweep). Moves are small and random-walk, so a wide skin
        saves rebuilds.
    """

    name = "MetropolisMC"
    timestep = 0.0

    def __init__(self, provider: ForceProvider, *, temperature_K: float, step_size: float = 0.1, mode: str = "single",
                 target_acceptance: float = 0.5, adapt: bool = True, adapt_sweeps: int = 100, axes=(0, 1, 2), seed=None,
                 skin: float = 2.0):
        if not callable(getattr(provider, "compute", None)):
            raise TypeError(f"{self.name}: `provider` must have compute(system, stress=False), "
                            f"got {type(provider).__name__}")
        if mode not in MODES:
            raise InputError(f"{self.name}: `mode` must be one of {MODES}, got {mode!r}")
        if not 0.0 < target_acceptance < 1.0:
            raise InputError(f"{self.name}: `target_acceptance` must be in (0, 1), got {target_acceptance!r}")
        axes = tuple(int(a) for a in axes)
        if not axes or any(a not in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
            raise InputError(f"{self.name}: `axes` must be distinct values from (0, 1, 2), got {axes!r}")
        self.provider = provider
        self.temperature_K = positive(temperature_K, "temperature_K", self.name)
        self.step_size = positive(step_size, "step_size", self.name)
        self.mode = mode
        self.target_acceptance = float(target_acceptance)
        self.adapt_sweeps = int(adapt_sweeps) if adapt else 0
        self.axes = axes
        self.skin = positive(skin, "skin", self.name)
        self.rng = make_rng(seed)
        self.want_stress = False
        self.sweeps = 0
        self.accepted = 0  # since adaptation ended
        self.attempted = 0
        self.last_acceptance = float("nan")
        self.acceptance_log: list[tuple[int, float, float]] = []
        self.energy: float | None = None  # eV, tracked along the chain
        self._result: ForceResult | None = None
        self._pairs = None  # CSR list for the pair fast path
        self._restore_pairs = (None, None)  # (reference [n,3] Å, skin Å) of a list to rebuild after a restart
        self._mask = np.zeros(3)
        self._mask[list(axes)] = 1.0

    # ------------------------------------------------------------- protocol
    @property
    def beta(self) -> float:
        """1 / (k_B T) in 1/eV."""
        return 1.0 / (units.kB * self.temperature_K)

    @property
    def last_result(self) -> ForceResult | None:
        """The ForceResult at the current state: complete after all-particle moves; after
        single-particle moves only the tracked energy (eV) with ``forces=None``, so the
        driver evaluates forces only for reporters that ask for them."""
        if self._result is not None or self.energy is None:
            return self._result
        return ForceResult(self.energy, None)

    @property
    def acceptance_rate(self) -> float:
        """Acceptance rate since the adaptation window ended (nan before any production move)."""
        return self.accepted / self.attempted if self.attempted else float("nan")

    def thermo_fields(self) -> dict[str, float]:
        """Extra columns for the thermodynamic log."""
        return {"mc_acceptance": self.last_acceptance, "mc_step_A": self.step_size}

    def conserved_energy(self, epot: float, ekin: float) -> float:
        """MC has no conserved dynamical quantity."""
        return float("nan")

    def initialize(self, system: System) -> None:
        result = self.provider.compute(system)
        self.energy = float(result.energy)
        self._result = result if self.mode == "all" else None

    def step(self, system: System) -> None:
        """One sweep."""
        if self.energy is None:
            self.initialize(system)
        if self.mode == "all":
            accepted, attempted = self._all_particle_move(system)
        elif self._is_pair_potential():
            accepted, attempted = self._pair_sweep(system)
        else:
            accepted, attempted = self._generic_sweep(system)
        self.sweeps += 1
        self.last_acceptance = accepted / attempted
        if self.sweeps <= self.adapt_sweeps:
            self.acceptance_log.append((self.sweeps, self.last_acceptance, self.step_size))
            self.step_size *= float(np.clip(np.exp(self.last_acceptance - self.target_acceptance), 0.5, 2.0))
        else:
            self.accepted += accepted
            self.attempted += attempted

    # ----------------------------------------------------------------- moves
    def _draw_displacements(self, n: int) -> np.ndarray:
        return self.rng.uniform(-self.step_size, self.step_size, size=(n, 3)) * self._mask  # [n, 3] Å

    def _accept(self, delta: float, u: float) -> bool:
        return delta <= 0.0 or u < math.exp(-self.beta * delta) if np.isfinite(delta) else False

    def _all_particle_move(self, system: System) -> tuple[int, int]:
        displacement = self._draw_displacements(system.n_atoms)
        u = self.rng.random()
        old = system.positions.copy()
        system.positions += displacement
        trial = self.provider.compute(system)
        if self._accept(trial.energy - self.energy, u):
            self.energy = float(trial.energy)
            self._result = trial
            return 1, 1
        system.positions[:] = old
        return 0, 1

    def _generic_sweep(self, system: System) -> tuple[int, int]:
        n = system.n_atoms
        atoms = self.rng.integers(0, n, size=n)
        displacements = self._draw_displacements(n)
        uniforms = self.rng.random(n)
        accepted = 0
        for k in range(n):
            i = atoms[k]
            old = system.positions[i].copy()
            system.positions[i] += displacements[k]
            energy = float(self.provider.compute(system).energy)
            if self._accept(energy - self.energy, uniforms[k]):
                self.energy = energy
                accepted += 1
            else:
                system.positions[i] = old
        return accepted, n

    def _is_pair_potential(self) -> bool:
        return isinstance(self.provider, PairPotential)

    def _pair_sweep(self, system: System) -> tuple[int, int]:
        n = system.n_atoms
        atoms = self.rng.integers(0, n, size=n)
        displacements = self._draw_displacements(n)
        uniforms = self.rng.random(n)
        longest = float(np.sqrt((displacements**2).sum(axis=1).max()))
        start, accepted, delta = 0, 0, 0.0
        p = self.provider
        while start < n:
            fresh = False
            if self._pairs is None or not np.array_equal(self._pairs["cell"], system.cell):
                reference, skin = self._restore_pairs
                if reference is None:  # rebuild at the current positions, wide enough for this sweep's moves
                    reference, skin = system.positions, max(self.skin, 2.5 * longest)
                    fresh = True
                self._build_pairs(system, np.array(reference, dtype=np.float64), float(skin))
                self._restore_pairs = (None, None)
            pairs = self._pairs
            stop, acc, de = single_particle_sweep(
                system.positions, system.cell, pairs["offsets"], pairs["neighbors"], pairs["shifts"],
                pairs["reference"], 0.5 * pairs["skin"], float(p.cutoff), int(p.kind), np.asarray(p.params, np.float64),
                atoms, displacements, uniforms, self.beta, start)
            accepted += acc
            delta += de
            if stop < n:
                if fresh and stop == start:
                    raise RuntimeError(f"{self.name}: move {stop} does not fit a freshly built neighbor list")
                self._pairs = None  # the skin is used up
            start = stop
        self.energy += delta
        return accepted, n

    def _build_pairs(self, system: System, reference: np.ndarray, skin: float) -> None:
        """Full CSR list within cutoff + ``skin`` (Å) around ``reference`` [n,3] Å."""
        nb = build_pairs(reference, system.cell, system.pbc, float(self.provider.cutoff) + skin, full=True,
                         with_vectors=False)
        order = np.argsort(nb.i, kind="stable")
        offsets = np.zeros(system.n_atoms + 1, dtype=np.int64)
        np.cumsum(np.bincount(nb.i, minlength=system.n_atoms), out=offsets[1:])
        self._pairs = {"offsets": offsets, "neighbors": np.ascontiguousarray(nb.j[order]),
                       "shifts": np.ascontiguousarray(nb.shifts[order], dtype=np.float64),
                       "reference": reference.copy(), "cell": system.cell.copy(), "skin": skin}

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "rng": rng_state(self.rng), "step_size": self.step_size,
                "sweeps": self.sweeps, "accepted": self.accepted, "attempted": self.attempted,
                "last_acceptance": self.last_acceptance, "energy": self.energy,
                "acceptance_log": [list(row) for row in self.acceptance_log], "result": result_to_dict(self._result),
                "pairs_reference": None if self._pairs is None else self._pairs["reference"],
                "pairs_skin": None if self._pairs is None else self._pairs["skin"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != type(self).__name__:
            raise ValueError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        set_rng_state(self.rng, state["rng"])
        self.step_size = float(state["step_size"])
        self.sweeps = int(state["sweeps"])
        self.accepted, self.attempted = int(state["accepted"]), int(state["attempted"])
        self.last_acceptance = float(state["last_acceptance"])
        self.energy = None if state["energy"] is None else float(state["energy"])
        self.acceptance_log = [(int(a), float(b), float(c)) for a, b, c in state["acceptance_log"]]
        self._result = result_from_dict(state["result"])
        self._pairs = None
        self._restore_pairs = (state.get("pairs_reference"), state.get("pairs_skin"))
