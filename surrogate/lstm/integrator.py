"""The LSTM operator as an integrator: one ``step()`` advances a whole stride Δ_R.

:class:`LSTMOperatorIntegrator` is an ``integrators.Integrator``
so the driver (:class:`integrators.Simulation`) runs it with the usual
trajectory, log and checkpoint reporters:

* ``initialize`` refuses a system the model was not trained for, then builds
  the first window of W states with velocity Verlet and the system's own force
  provider (``warmup="forward"``, as in the paper: the system advances W−1
  strides; or ``"backward"``: Verlet run backwards in time, the system stays put);
* ``step`` slides the window: drop the oldest state, append the prediction;
* physics guards after every stride: the centre-of-mass momentum is projected
  back to its initial value exactly (translation-invariant systems), the
  optional FlashMD-style energy correction rescales the internal momenta by
  α = √(1 − ΔE/K) against a provider's potential energy, and a
  :class:`StabilityGuard` stops the run with a clear message when the rollout
  leaves the training distribution;
* ``state_dict`` carries the window (float64) so a checkpoint resumes bit for bit.

:func:`rollout` advances a batch of independent windows [B, W, D] for many
strides inside one ``torch.inference_mode`` loop over a preallocated buffer:
the fast path for ensembles and for timing.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from integrators.integrator_base import Integrator
from systems.errors import InputError
from systems.forces import ForceResult
from systems.state import System, degrees_of_freedom

from .model import LSTMOperator
from .train import check_compatible, load_lstm
from .warmup import verlet_warmup


class OperatorInstabilityError(FloatingPointError):
    """The rollout left the model's training distribution (the driver reports it as a runaway)."""


class EnergyCorrectionError(OperatorInstabilityError):
    """No real momentum scale α = √(1 − ΔE/K) restores the energy (ΔE exceeds the kinetic energy)."""


def momentum_rescaling(kinetic, excess, *, best_effort: bool = False, context=lambda g: "",
                       hint: str = "") -> tuple[np.ndarray, int]:
    """The FlashMD energy correction: one factor α = √(1 − ΔE/K) per group of atoms.

    Scaling a group's internal velocities by α changes its kinetic energy K by
    (α² − 1)·K = −ΔE, so its energy returns to E₀. kinetic, excess : [G] (or
    scalars) K and ΔE = E − E₀ in eV. No real α exists where ΔE > K (the potential
    energy alone lies above E₀) or K = 0 with ΔE ≠ 0: ``best_effort`` then gives
    α = 0 (the nearest the momenta can bring the energy); otherwise
    :class:`EnergyCorrectionError` names the first such group through
    ``context(g)`` (e.g. "for particle 3 after stride 7") and adds ``hint``.
    Returns (α [G], number of groups without a real α).
    """
    kinetic = np.atleast_1d(np.asarray(kinetic, dtype=np.float64))
    excess = np.atleast_1d(np.asarray(excess, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = np.where(kinetic > 0, 1.0 - excess / kinetic, np.where(excess == 0, 1.0, -np.inf))
    bad = np.flatnonzero(arg < 0)
    if len(bad) and not best_effort:
        g = int(bad[0])
        raise EnergyCorrectionError(
            f"energy correction impossible {context(g)}: the energy is {excess[g]:.6g} eV above E0 but the "
            f"kinetic energy is only {kinetic[g]:.6g} eV, so α = √(1 − ΔE/K) = √({arg[g]:.4g}) has no real "
            f"value{hint}")
    return np.sqrt(np.clip(arg, 0.0, None)), len(bad)


class StabilityGuard:
    """Checks run after every stride; each raises :class:`OperatorInstabilityError` with the reason.

    max_energy_jump : the total energy may change by at most this fraction of
        max(|E₀|, K₀) in one stride (needs an energy provider; None disables).
    range_margin : model input features (periodic: sin/cos positions and
        velocities; open: positions and velocities) may exceed the training
        range by this fraction of its width (None disables).
    """

    def __init__(self, max_energy_jump: float | None = 0.05, range_margin: float | None = 0.5):
        self.max_energy_jump = max_energy_jump
        self.range_margin = range_margin

    def check_features(self, model: LSTMOperator, states: torch.Tensor, stride_index: int) -> None:
        if not bool(torch.isfinite(states).all()):
            raise OperatorInstabilityError(f"LSTM rollout: non-finite state after stride {stride_index}")
        if self.range_margin is None:
            return
        feats = model.features(states)
        span = model.feature_hi - model.feature_lo
        lo, hi = model.feature_lo - self.range_margin * span, model.feature_hi + self.range_margin * span
        bad = (feats < lo) | (feats > hi)
        if bool(bad.any()):
            b, f = (int(i) for i in torch.nonzero(bad)[0])
            name = _feature_name(model, f)
            raise OperatorInstabilityError(
                f"LSTM rollout left the training range after stride {stride_index}: {name} of trajectory {b} is "
                f"{float(feats[b, f]):.4g}, trained range [{float(model.feature_lo[f]):.4g}, "
                f"{float(model.feature_hi[f]):.4g}] (margin {self.range_margin:.0%})")

    def check_energy(self, energy: float, previous: float, scale: float, stride_index: int) -> None:
        if self.max_energy_jump is None:
            return
        if not math.isfinite(energy) or abs(energy - previous) > self.max_energy_jump * scale:
            raise OperatorInstabilityError(
                f"LSTM rollout: total energy jumped from {previous:.6g} eV to {energy:.6g} eV in stride "
                f"{stride_index} (limit {self.max_energy_jump:.3g} × {scale:.4g} eV); the operator has left its "
                "training distribution")


def _feature_name(model: LSTMOperator, f: int) -> str:
    n_pos = model.n_particles * model.dim
    axes = "xyz"
    if model.periodic:
        if f < 2 * n_pos:
            kind, k = ("sin", f) if f < n_pos else ("cos", f - n_pos)
            return f"{kind}(2πx/L) of particle {k // model.dim} along {axes[k % model.dim]}"
        f -= n_pos
    kind = "position" if f < n_pos else "velocity"
    k = f % n_pos
    return f"{kind} of particle {k // model.dim} along {axes[k % model.dim]}"


# ------------------------------------------------------------------- physics
class MomentumProjector:
    """Holds the centre-of-mass momentum at its initial value (translation-invariant systems).

    After a stride, v ← v − (P − P₀)/M and the centre of mass is put where free
    motion at P₀ takes it: x ← x − (X − X_prev − P₀/M·Δ_R). Both exact to round-off.
    masses : [N] amu; dim : spatial dimensions; works on flat states [B, D] (torch).
    """

    def __init__(self, masses, dim: int, stride: float, dtype, device):
        self.m = torch.as_tensor(np.asarray(masses, dtype=np.float64), dtype=dtype, device=device)  # [N]
        self.total = self.m.sum()
        self.n, self.dim, self.stride = len(masses), dim, float(stride)
        self.p0 = None  # [B, dim]

    def set_reference(self, states: torch.Tensor) -> None:
        self.p0 = self._momentum(states)

    def _momentum(self, states):
        v = states[:, self.n * self.dim:].reshape(states.shape[0], self.n, self.dim)
        return (self.m[None, :, None] * v).sum(1)

    def _com(self, states):
        x = states[:, : self.n * self.dim].reshape(states.shape[0], self.n, self.dim)
        return (self.m[None, :, None] * x).sum(1) / self.total

    def apply(self, new: torch.Tensor, previous: torch.Tensor) -> None:
        """Correct ``new`` [B, D] in place given the previous state [B, D]."""
        nd = self.n * self.dim
        dv = (self._momentum(new) - self.p0) / self.total  # [B, dim]
        v = new[:, nd:].view(new.shape[0], self.n, self.dim)
        v -= dv[:, None, :]
        dx = self._com(new) - self._com(previous) - self.p0 / self.total * self.stride
        x = new[:, :nd].view(new.shape[0], self.n, self.dim)
        x -= dx[:, None, :]


# ------------------------------------------------------------------ rollout
@torch.inference_mode()
def rollout(model: LSTMOperator, initial_windows, n_strides: int, *, masses=None, stride: float | None = None,
            guard: StabilityGuard | None = None, conditions=None) -> np.ndarray:
    """Advance B independent trajectories ``n_strides`` strides; returns states [n_strides, B, D] (float64 numpy).

    initial_windows : [B, W, D] (numpy or torch), oldest state first.
    masses : [N] amu and stride (ASE time): if both are given, the centre-of-mass
        momentum of each trajectory is projected back to its initial value after
        every stride. guard : optional feature-range check every stride.
    conditions : [B, C] per-trajectory parameters of a conditioned model (see
        :class:`~surrogate.lstm.model.LSTMOperator`), e.g. mass (amu) and k (eV/Å²).
    The window is a view into one preallocated buffer, so a stride costs one
    model call and two small in-place corrections.
    """
    param = model.feature_lo
    w0 = torch.as_tensor(np.asarray(initial_windows), dtype=param.dtype, device=param.device)
    if w0.ndim != 3 or w0.shape[1] != model.window or w0.shape[2] != model.state_dim:
        raise InputError(f"rollout: initial windows must be [B, {model.window}, {model.state_dim}], got {tuple(w0.shape)}")
    b, w, d = w0.shape
    cond = None if conditions is None else torch.as_tensor(np.asarray(conditions), dtype=param.dtype,
                                                             device=param.device)
    buf = torch.empty(b, w + int(n_strides), d, dtype=param.dtype, device=param.device)
    buf[:, :w] = w0
    projector = None
    if masses is not None and stride is not None:
        projector = MomentumProjector(masses, model.dim, stride, param.dtype, param.device)
        projector.set_reference(w0[:, -1])
    for k in range(int(n_strides)):
        window = buf[:, k:k + w]
        new = model(window, cond)  # [B, D]
        if projector is not None:
            projector.apply(new, window[:, -1])
        if guard is not None:
            guard.check_features(model, new, k + 1)
        buf[:, w + k] = new
    return buf[:, w:].transpose(0, 1).double().cpu().numpy()


# --------------------------------------------------------------- integrator
class LSTMOperatorIntegrator(Integrator):
    """Integrator protocol on top of a trained :class:`LSTMOperator`.

    Parameters
    ----------
    model : model file path, or an :class:`LSTMOperator` together with ``header``.
    warmup_provider : ForceProvider of the system (Verlet builds the first window).
    energy_provider : ForceProvider whose potential energy the energy correction,
        the energy guard and the reporters use (default: ``warmup_provider``).
    energy_correction : rescale momenta every stride so E_pot + E_kin stays at E₀
        (FlashMD). True: exactly, with :class:`EnergyCorrectionError` when no real
        α exists. "best_effort": α = √max(0, 1 − ΔE/K), i.e. the momenta go to zero
        where the predicted positions already lie above E₀, and the remaining
        excess stays (counted in :attr:`clipped_corrections`). A 1D operator
        advances independent particles, so each particle is corrected against its
        own energy (the provider's per-particle energies); there the strict mode
        fails at the first turning point a prediction overshoots, which is why
        "best_effort" exists.
    guard : :class:`StabilityGuard` or None.
    warmup : "forward" (paper) or "backward" (Verlet backwards in time; the
        system keeps its state and time).
    device, dtype : where and in which precision the model runs.
    """

    name = "LSTMOperator"

    def __init__(self, model, warmup_provider, *, energy_provider=None, energy_correction: bool = False,
                 guard: StabilityGuard | None = None, warmup: str = "forward", header: dict | None = None,
                 device: str = "cpu", dtype=None):
        if isinstance(model, (str, os.PathLike)):
            model, header = load_lstm(model, device, dtype)
        elif not isinstance(model, LSTMOperator) or header is None:
            raise InputError("LSTMOperatorIntegrator: pass a model file path, or an LSTMOperator with its `header`")
        if warmup not in ("forward", "backward"):
            raise InputError(f"LSTMOperatorIntegrator: `warmup` must be 'forward' or 'backward', got {warmup!r}")
        if not callable(getattr(warmup_provider, "compute", None)):
            raise InputError("LSTMOperatorIntegrator: `warmup_provider` must be a force provider (compute(system))")
        self.model = model.eval()
        self.header = header
        self.warmup_provider = warmup_provider
        self.provider = energy_provider if energy_provider is not None else warmup_provider
        if energy_correction not in (False, True, "best_effort"):
            raise InputError(f"LSTMOperatorIntegrator: `energy_correction` must be False, True or 'best_effort', "
                             f"got {energy_correction!r}")
        self.energy_correction = energy_correction if energy_correction == "best_effort" else bool(energy_correction)
        self.clipped_corrections = 0
        self.guard = guard if guard is not None else StabilityGuard()
        self.warmup = warmup
        self.timestep = float(header["stride"])
        self.verlet_timestep = float(header["timestep"])
        self.stride_steps = int(header["stride_steps"])
        self.translation_invariant = bool(header["system"].get("translation_invariant", False))
        self.want_stress = False
        self.n_strides = 0
        self._result: ForceResult | None = None
        self._window: np.ndarray | None = None  # [B, W, D] float64
        self._e0 = None
        self._e0_each = None  # [n] per-particle E0 (1D operators with energy correction)
        self._e_prev = None
        self._energy_scale = None
        self._projector = None
        self._masses = None
        self._conditions = None  # [B, C] tensor for a conditioned model

    # ------------------------------------------------------------- protocol
    @property
    def last_result(self) -> ForceResult | None:
        return self._result

    def initialize(self, system: System) -> None:
        """Check the system against the model, then build the window with Verlet."""
        check_compatible(self.header, system, self.warmup_provider)
        w = self.model.window
        dt = self.verlet_timestep if self.warmup == "forward" else -self.verlet_timestep
        work = system.copy()
        states = []
        verlet_warmup(work, self.warmup_provider, dt, self.stride_steps, w - 1,
                      lambda s, _: states.append(self._state_of(s)))
        if self.warmup == "backward":
            states = states[::-1]
            work = system
        else:
            system.positions[:] = work.positions
            system.velocities[:] = work.velocities
            system.time += (w - 1) * self.timestep
        self._window = np.stack(states, axis=1)  # [B, W, D]
        self._conditions = self._conditions_of(system)
        self._setup_physics(system)
        self._e0 = self._total_energy(system) if self._needs_energy() else None
        self._e0_each = self._particle_energies(system, self._result) if self._per_particle() else None
        self._e_prev = self._e0
        self._energy_scale = None if self._e0 is None else max(abs(self._e0), system.kinetic_energy(), 1e-12)
        self.n_strides = 0

    def step(self, system: System) -> None:
        """Advance ``system`` by one stride Δ_R."""
        if self._window is None:
            self.initialize(system)
        param = self.model.feature_lo
        if self.model.conditions and self._conditions is None:  # resumed from a checkpoint
            self._conditions = self._conditions_of(system)
        with torch.inference_mode():
            window = torch.as_tensor(self._window, dtype=param.dtype, device=param.device)
            new = self.model(window, self._conditions)
            new64 = new.to(torch.float64)
            if self._projector is not None:
                self._projector.apply(new64, torch.as_tensor(self._window[:, -1]))
            self.guard.check_features(self.model, new64.to(param.dtype), self.n_strides + 1)
            state = new64.cpu().numpy()
        self._apply_state(system, state)
        system.time += self.timestep
        self.n_strides += 1
        self._result = None
        if self._needs_energy():
            self._result = self.provider.compute(system, stress=self.want_stress)
            if self.energy_correction:
                self._correct_energy(system, self._result.energy)
                state = self._state_of(system)
            energy = self._result.energy + system.kinetic_energy()
            self.guard.check_energy(energy, self._e_prev, self._energy_scale, self.n_strides)
            self._e_prev = energy
        self._window = np.concatenate([self._window[:, 1:], state[:, None]], axis=1)

    def state_dict(self) -> dict[str, Any]:
        """The window (float64), reference momentum and energy, and the stride count."""
        return {"kind": type(self).__name__, "timestep": self.timestep, "window": self._window.copy(),
                "n_strides": self.n_strides, "e0": self._e0, "e_prev": self._e_prev,
                "e0_each": None if self._e0_each is None else self._e0_each.copy(),
                "clipped_corrections": self.clipped_corrections,
                "energy_scale": self._energy_scale,
                "p0": None if self._projector is None else self._projector.p0.numpy().copy(),
                "warmup": self.warmup}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the integrator then steps on without ``initialize``."""
        if state.get("kind") != type(self).__name__:
            raise InputError(f"checkpoint holds a {state.get('kind')!r} state, not {type(self).__name__!r}")
        if abs(float(state["timestep"]) - self.timestep) > 1e-12 * self.timestep:
            raise InputError(f"{self.name}: checkpoint stride {state['timestep']!r} differs from the model's "
                             f"{self.timestep!r} (ASE time); resume with the same model")
        window = np.asarray(state["window"], dtype=np.float64)
        if window.ndim != 3 or window.shape[1:] != (self.model.window, self.model.state_dim):
            raise InputError(f"{self.name}: checkpoint window has shape {window.shape}, the model needs "
                             f"[B, {self.model.window}, {self.model.state_dim}]")
        self._window = window.copy()
        self.n_strides = int(state["n_strides"])
        self._e0 = None if state["e0"] is None else float(state["e0"])
        self._e0_each = None if state.get("e0_each") is None else np.asarray(state["e0_each"], dtype=np.float64)
        self.clipped_corrections = int(state.get("clipped_corrections", 0))
        self._e_prev = None if state["e_prev"] is None else float(state["e_prev"])
        self._energy_scale = None if state["energy_scale"] is None else float(state["energy_scale"])
        self._projector = None
        if state.get("p0") is not None:
            self._projector = MomentumProjector(self._masses_from_header(), self.model.dim, self.timestep,
                                                torch.float64, "cpu")
            self._projector.p0 = torch.as_tensor(np.asarray(state["p0"], dtype=np.float64))

    def degrees_of_freedom(self, system: System) -> int:
        return degrees_of_freedom(system.n_atoms, com_fixed=self.translation_invariant)

    # -------------------------------------------------------------- helpers
    def _needs_energy(self) -> bool:
        return self.energy_correction or self.guard.max_energy_jump is not None

    def _total_energy(self, system: System) -> float:
        self._result = self.provider.compute(system)
        return self._result.energy + system.kinetic_energy()

    def _conditions_of(self, system: System):
        """[B, C] values of the model's conditions for ``system`` (1D: one row per particle), or None."""
        if not self.model.conditions:
            return None
        columns = []
        for name in self.model.conditions:
            if name == "mass":
                columns.append(system.masses)
            elif name == "omega" and hasattr(self.warmup_provider, "k"):  # harmonic √(k/m), ASE time⁻¹
                k = np.broadcast_to(np.asarray(self.warmup_provider.k, dtype=float), (system.n_atoms,))
                columns.append(np.sqrt(k / system.masses))
            elif hasattr(self.warmup_provider, name):
                columns.append(np.broadcast_to(np.asarray(getattr(self.warmup_provider, name), dtype=float),
                                               (system.n_atoms,)))
            else:
                raise InputError(f"{self.name}: the model is conditioned on {name!r}, which the force provider "
                                 f"{type(self.warmup_provider).__name__} does not have")
        values = np.stack(columns, axis=1)
        param = self.model.feature_lo
        # A 1D model advances every particle as its own trajectory (one row each); a flat
        # N-particle model advances the whole system as one trajectory (one row).
        return torch.as_tensor(values if self.model.dim == 1 else values[:1], dtype=param.dtype, device=param.device)

    def _masses_from_header(self):
        return np.asarray(self.header["system"]["masses"], dtype=np.float64)

    def _setup_physics(self, system: System) -> None:
        self._projector = None
        if self.translation_invariant:
            self._projector = MomentumProjector(system.masses, self.model.dim, self.timestep, torch.float64, "cpu")
            self._projector.set_reference(torch.as_tensor(self._window[:, -1]))

    def _state_of(self, system: System) -> np.ndarray:
        """Flat states [B, D] of ``system`` (1D: one row per particle; else one row)."""
        if self.model.dim == 1:
            return np.stack([system.positions[:, 0], system.velocities[:, 0]], axis=1)
        return np.concatenate([system.positions.reshape(-1), system.velocities.reshape(-1)])[None]

    def _apply_state(self, system: System, state: np.ndarray) -> None:
        if self.model.dim == 1:
            system.positions[:, 0] = state[:, 0]
            system.velocities[:, 0] = state[:, 1]
        else:
            n = system.n_atoms * 3
            system.positions[:] = state[0, :n].reshape(-1, 3)
            system.velocities[:] = state[0, n:].reshape(-1, 3)

    def _per_particle(self) -> bool:
        return bool(self.energy_correction) and self.model.dim == 1

    def _particle_energies(self, system: System, result: ForceResult) -> np.ndarray:
        """E_pot,i + ½ m_i v_i² per particle [n] (eV), for the per-particle correction of 1D operators."""
        if result is None or result.energies is None:
            raise InputError(f"{self.name}: the energy correction of a 1D operator needs per-particle energies; "
                             f"{type(self.provider).__name__} gives none")
        return result.energies + 0.5 * system.masses * np.sum(system.velocities**2, axis=1)

    def _correct_energy(self, system: System, potential_energy: float) -> None:
        """FlashMD-style: scale internal momenta by α = √(1 − ΔE/K_int) so E = E₀ (per particle in 1D)."""
        best_effort = self.energy_correction == "best_effort"
        if self._per_particle():
            if self._e0_each is None:  # resumed from a checkpoint of an older state layout
                raise InputError(f"{self.name}: no per-particle reference energies; initialize the integrator again")
            kinetic = 0.5 * system.masses * np.sum(system.velocities**2, axis=1)
            delta = self._particle_energies(system, self._result) - self._e0_each
            alpha, clipped = momentum_rescaling(
                kinetic, delta, best_effort=best_effort,
                context=lambda i: f"for particle {i} after stride {self.n_strides} (its E0 = {self._e0_each[i]:.6g} eV)",
                hint="; energy_correction='best_effort' sets such velocities to zero instead")
            self.clipped_corrections += clipped
            system.velocities *= alpha[:, None]
            return
        m = system.masses[:, None]
        v_com = (m * system.velocities).sum(0) / system.masses.sum() if self.translation_invariant else 0.0
        v_int = system.velocities - v_com
        k_int = 0.5 * float(np.sum(m * v_int**2))
        delta = potential_energy + system.kinetic_energy() - self._e0
        alpha, clipped = momentum_rescaling(
            k_int, delta, best_effort=best_effort,
            context=lambda _: f"after stride {self.n_strides} (E0 = {self._e0:.6g} eV, internal kinetic energy)")
        self.clipped_corrections += clipped
        system.velocities[:] = v_com + alpha[0] * v_int
