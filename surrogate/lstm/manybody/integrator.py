"""The integrator that rolls a :class:`~surrogate.lstm.manybody.model.ManyBodyOperator` out stride by stride."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from integrators.integrator_base import Integrator
from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System

from ..integrator import OperatorInstabilityError, momentum_rescaling
from ..warmup import verlet_warmup
from .data import graph
from .model import load_manybody


class ManyBodyOperatorIntegrator(Integrator):
    """Integrator protocol for :class:`ManyBodyOperator` (any N, same species).

    The first window comes from velocity Verlet with ``warmup_provider`` at
    ``verlet_timestep`` (the system advances W−1 strides); each ``step`` advances
    Δ_R; the centre-of-mass momentum is projected back to its initial value after
    every stride; a stride that moves an atom more than ``max_displacement`` Å
    raises :class:`OperatorInstabilityError`. ``state_dict`` carries the window.
    With ``energy_correction`` the internal momenta are rescaled after every stride
    by α = √(1 − ΔE/K) so that E_pot (from ``warmup_provider``) + E_kin stays at its
    initial value (FlashMD); :class:`EnergyCorrectionError` when no real α exists.

    A ``force_input`` model also reads the forces of its window: they are
    recorded at the warm-up's stride states and then evaluated with
    ``warmup_provider`` once after every stride, so such a model costs ONE force
    evaluation per stride (against ``stride_steps`` for Verlet) plus the network.
    That evaluation is reused for the energy correction and exposed as
    ``last_result`` (the driver's reporters then need no second one);
    ``state_dict`` carries the force window, so a resumed run continues bit for bit.
    """

    name = "ManyBodyOperator"

    def __init__(self, model, warmup_provider, *, verlet_timestep: float, header: dict | None = None,
                 max_displacement: float = 2.0, energy_correction: bool = False, device: str = "cpu"):
        if isinstance(model, (str, os.PathLike)):
            model, header = load_manybody(model, device)
        self.model, self.header = model.eval(), header or {}
        self.provider = warmup_provider
        self.timestep = float(model.stride)
        self.verlet_timestep = float(verlet_timestep)
        n_sub = self.timestep / self.verlet_timestep
        if abs(n_sub - round(n_sub)) > 1e-6:
            raise InputError(f"{self.name}: stride {self.timestep} is not a whole number of Verlet steps "
                             f"{self.verlet_timestep}")
        self.stride_steps = int(round(n_sub))
        self.max_displacement = float(max_displacement)
        self.energy_correction = bool(energy_correction)
        self._e0 = None
        self.want_stress = False
        self.last_result = None
        self._xw = self._vw = self._fw = self._p0 = None
        self.n_strides = 0

    @property
    def force_input(self) -> bool:
        return bool(getattr(self.model, "force_input", False))

    def initialize(self, system: System) -> None:
        masses = self.header.get("masses")
        if masses and not np.all(np.isin(np.round(system.masses, 9), np.round(masses, 9))):
            raise InputError(f"{self.name}: the model was trained on masses {masses} amu, the system has "
                             f"{sorted(set(system.masses.tolist()))}")
        w = self.model.window
        xs, vs, fs = [], [], []
        self.last_result = None

        def record(s, result):
            xs.append(s.positions.copy())
            vs.append(s.velocities.copy())
            self.last_result = result  # the warm-up's own evaluation: no extra force call
            if self.force_input:
                fs.append(np.array(result.forces, dtype=np.float64))

        verlet_warmup(system, self.provider, self.verlet_timestep, self.stride_steps, w - 1, record)
        for _ in range(w - 1):  # stride by stride, as the rollout adds it
            system.time += self.timestep
        self._xw, self._vw = np.stack(xs, 1), np.stack(vs, 1)  # [n, W, 3]
        self._fw = np.stack(fs, 1) if self.force_input else None  # [n, W, 3] eV/Å
        self._p0 = system.momenta.sum(0)
        if self.energy_correction:
            self._e0 = self.last_result.energy + system.kinetic_energy()
        else:
            self._e0 = None
        self.n_strides = 0

    def step(self, system: System) -> None:
        if self._xw is None:
            self.initialize(system)
        p = next(self.model.parameters())
        ei, ev = graph(system.positions, system.cell, system.pbc, self.model.cutoff, p.dtype, p.device)
        as_t = lambda a: torch.as_tensor(a, dtype=p.dtype, device=p.device)  # noqa: E731
        with torch.inference_mode():
            if self.force_input:
                dx, dv = self.model(as_t(self._xw), as_t(self._vw), ei, ev, as_t(self._fw), as_t(system.masses))
            else:
                dx, dv = self.model(as_t(self._xw), as_t(self._vw), ei, ev)
        dx, dv = dx.double().cpu().numpy(), dv.double().cpu().numpy()
        if not np.isfinite(dx).all() or np.abs(dx).max() > self.max_displacement:
            raise OperatorInstabilityError(f"{self.name}: stride {self.n_strides + 1} moved an atom by "
                                           f"{np.abs(dx).max():.4g} Å (limit {self.max_displacement} Å)")
        m = system.masses[:, None]
        new_v = system.velocities + dv
        new_v -= ((m * new_v).sum(0) - self._p0) / system.masses.sum()
        new_x = system.positions + dx
        drift = (m * dx).sum(0) / system.masses.sum() - self._p0 / system.masses.sum() * self.timestep
        system.positions[:] = new_x - drift
        system.velocities[:] = new_v
        system.time += self.timestep
        self.n_strides += 1
        # The one force evaluation of this stride (positions are final; the correction only rescales v);
        # without one, None: the driver evaluates what its reporters need (not the warm-up's stale result).
        self.last_result = self.provider.compute(system) if self.force_input or self.energy_correction else None
        if self.energy_correction:
            self._correct_energy(system)
        self._xw = np.concatenate([self._xw[:, 1:], system.positions[:, None]], 1)
        self._vw = np.concatenate([self._vw[:, 1:], system.velocities[:, None]], 1)
        if self.force_input:
            forces = np.asarray(self.last_result.forces, dtype=np.float64)
            self._fw = np.concatenate([self._fw[:, 1:], forces[:, None]], 1)

    def _correct_energy(self, system: System) -> None:
        v_com = self._p0 / system.masses.sum()
        v_int = system.velocities - v_com
        k_int = 0.5 * float(np.sum(system.masses[:, None] * v_int**2))
        delta = self.last_result.energy + system.kinetic_energy() - self._e0
        alpha, _ = momentum_rescaling(
            k_int, delta, context=lambda _: f"in {self.name} after stride {self.n_strides} (E0 = {self._e0:.6g} eV, "
                                            "internal kinetic energy)")
        system.velocities[:] = v_com + alpha[0] * v_int

    def state_dict(self) -> dict[str, Any]:
        state = {"kind": type(self).__name__, "timestep": self.timestep, "x_window": self._xw.copy(),
                 "v_window": self._vw.copy(), "p0": self._p0.copy(), "n_strides": self.n_strides, "e0": self._e0}
        if self.force_input:
            state["f_window"] = self._fw.copy()
            energy = None if self.last_result is None else self.last_result.energy
            state["last_energy"] = None if energy is None else float(energy)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != type(self).__name__:
            raise InputError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        self._xw = np.asarray(state["x_window"], dtype=np.float64)
        self._vw = np.asarray(state["v_window"], dtype=np.float64)
        self._p0 = np.asarray(state["p0"], dtype=np.float64)
        self.n_strides = int(state["n_strides"])
        self._e0 = None if state.get("e0") is None else float(state["e0"])
        if self.force_input:
            if state.get("f_window") is None:
                raise InputError(f"{self.name}: the checkpoint has no force window, but the model reads forces")
            self._fw = np.asarray(state["f_window"], dtype=np.float64)
            energy = state.get("last_energy")
            # The newest forces are those of the current state: the reporters can use them as before.
            self.last_result = None if energy is None else ForceResult(float(energy), self._fw[:, -1].copy())
