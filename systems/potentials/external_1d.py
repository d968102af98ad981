"""One-dimensional external potentials of the large-timestep RNN paper (Kadupitiya, Fox, Jadhao 2020).

Each acts on the x coordinate of every particle independently: U = Σ_i U(x_i),
F_i = (−U'(x_i), 0, 0). Particles do not interact, so one System can hold a
batch of independent 1D oscillators, each with its own mass and, through
per-particle parameter arrays, its own spring constant (or σ, ε). In reduced
units (σ = 1 Å, ε = 1 eV, m = 1 amu) ASE's internal time unit is τ.

- :class:`Harmonic1D`: U = ½ k x²
- :class:`DoubleWell1D`: U = x⁴/4 − x²/2
- :class:`LennardJones1D`: U = 4ε[(σ/|x|)¹² − (σ/|x|)⁶], a particle and a fixed particle at the origin
- :class:`Rugged1D`: U = (x⁴ − x³ − 16x² + 4x + 48)/50 + sin(30(x + 5))/5

The rugged polynomial (x − 4)(x − 2)(x + 2)(x + 3)/50 is the one in the
authors' public notebooks (the paper names only "a polynomial plus
sin(30(x+5))/5").
"""

from __future__ import annotations

import numba
import numpy as np

from ..errors import CloseContactError, InputError
from ..forces import ForceResult, check_finite

#: Kinds understood by :func:`external_1d_energy_forces`.
HARMONIC_1D = 0
DOUBLE_WELL_1D = 1
LENNARD_JONES_1D = 2
RUGGED_1D = 3


@numba.njit(cache=True, inline="always")
def external_1d_terms(kind, x, p):
    """(U eV, F eV/Å along x) of one particle at x (Å) with parameter row ``p``.

    The one implementation of the 1D forms, shared by the providers below and
    the fused Verlet loops of :mod:`integrators.fused_verlet`:

    HARMONIC_1D:      U = ½ p0 x²                                      (p0 = k eV/Å²)
    DOUBLE_WELL_1D:   U = p0 x⁴/4 − p1 x²/2                            (DoubleWell1D: p0 = p1 = 1)
    LENNARD_JONES_1D: U = 4 p1 [(p0/|x|)¹² − (p0/|x|)⁶]                (p0 = σ Å, p1 = ε eV)
    RUGGED_1D:        U = p0 + p1 x + p2 x² + p3 x³ + p4 x⁴ + p5 sin(p6 (x + p7))
                      (Rugged1D: (x⁴ − x³ − 16x² + 4x + 48)/50 + sin(30(x + 5))/5)
    """
    if kind == HARMONIC_1D:
        return 0.5 * p[0] * x * x, -p[0] * x
    if kind == DOUBLE_WELL_1D:
        x2 = x * x
        return 0.25 * p[0] * x2 * x2 - 0.5 * p[1] * x2, -p[0] * x2 * x + p[1] * x
    if kind == LENNARD_JONES_1D:
        r = abs(x)
        s6 = (p[0] / r) ** 6
        s12 = s6 * s6
        g = 24.0 * p[1] * (2.0 * s12 - s6) / r  # −dU/dr
        return 4.0 * p[1] * (s12 - s6), g if x > 0 else -g
    # RUGGED_1D
    u = p[0] + x * (p[1] + x * (p[2] + x * (p[3] + x * p[4]))) + p[5] * np.sin(p[6] * (x + p[7]))
    du = p[1] + x * (2.0 * p[2] + x * (3.0 * p[3] + x * 4.0 * p[4])) + p[5] * p[6] * np.cos(p[6] * (x + p[7]))
    return u, -du


@numba.njit(cache=True)
def external_1d_energy_forces(x, kind, params):
    """Per-particle energies and x-forces of a 1D external potential (:func:`external_1d_terms`).

    x [n] Å; params [n, p] float64, one parameter row per particle.
    Returns energies [n] eV, forces [n] eV/Å along x, and the smallest |x| (Å)
    with its particle index (the close-contact guard of LENNARD_JONES_1D).
    """
    n = x.shape[0]
    energies = np.empty(n)
    fx = np.empty(n)
    closest = np.inf
    ci = 0
    for i in range(n):
        if kind == LENNARD_JONES_1D and abs(x[i]) < closest:
            closest = abs(x[i])
            ci = i
        energies[i], fx[i] = external_1d_terms(kind, x[i], params[i])
    return energies, fx, closest, ci


def _per_particle(owner: str, name: str, value, n: int) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(f"{owner}: `{name}` has {arr.size} values but the system has {n} particles")
    return arr


def _check_positive(owner: str, name: str, value) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim > 1:
        raise InputError(f"{owner}: `{name}` must be one value or one per particle, got shape {arr.shape}")
    flat = arr.reshape(-1)
    bad = ~np.isfinite(flat) | (flat <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f" of particle {i}" if arr.ndim else ""
        raise InputError(f"{owner}: `{name}`{where} must be positive and finite, got {flat[i]!r}")
    return arr


class External1D:
    """Base class: a kind code, named per-particle parameters and one kernel call.

    Subclasses set ``name``, ``kind`` and ``parameter_names`` (the columns of
    the parameter row of :func:`external_1d_terms`, in order) and store the
    parameters as attributes (scalars or [n] arrays), fixed after construction
    (they are broadcast to [n, p] once per system size). Satisfies the
    force-provider protocol of ``integrators``; there is no stress (an external
    field is not a property of the box).
    """

    name = "external 1D"
    kind = -1
    parameter_names: tuple = ()

    def __init__(self):
        self._cache_n = -1
        self._params = None

    def parameter_rows(self, n: int) -> np.ndarray:
        """Parameter rows [n, len(parameter_names)] of :func:`external_1d_terms` for n particles."""
        return self._parameters(n).copy()

    def _parameters(self, n: int) -> np.ndarray:
        if n != self._cache_n:  # broadcast once per system size; compute() runs every MD step
            columns = [_per_particle(self.name, p, getattr(self, p), n) for p in self.parameter_names]
            self._params = np.ascontiguousarray(np.column_stack(columns)) if columns else np.zeros((n, 0))
            self._cache_n = n
        return self._params

    def energy_force_1d(self, x):
        """Energies [n] (eV) and x-forces [n] (eV/Å) at x coordinates [n] (Å)."""
        x = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        energies, fx, closest, ci = external_1d_energy_forces(x, self.kind, self._parameters(len(x)))
        self._check_contact(closest, ci)
        return energies, fx

    def _check_contact(self, closest: float, i: int) -> None:
        pass

    def compute_arrays(self, positions, stress: bool = False) -> ForceResult:
        """Energy (eV), forces [n,3] (eV/Å; y and z are zero), per-particle energies [n]."""
        if stress:
            raise InputError(f"{self.name}: an external 1D potential has no stress")
        positions = np.asarray(positions, dtype=np.float64)
        energies, fx = self.energy_force_1d(positions[:, 0])
        forces = np.zeros((len(fx), 3))
        forces[:, 0] = fx
        return ForceResult(float(energies.sum()), forces, None, energies)

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Energy and forces of a :class:`~systems.state.System` (only x coordinates matter)."""
        return check_finite(self.compute_arrays(system.positions, stress), self.name)


class Harmonic1D(External1D):
    """U = ½ k x² per particle; ``k`` eV/Å², one value or one per particle ([n])."""

    name = "Harmonic1D"
    kind = HARMONIC_1D
    parameter_names = ("k",)

    def __init__(self, k=1.0):
        super().__init__()
        self.k = _check_positive(self.name, "k", k)


class DoubleWell1D(External1D):
    """U = x⁴/4 − x²/2 per particle (eV, x in Å): minima −1/4 at x = ±1, barrier at 0."""

    name = "DoubleWell1D"
    kind = DOUBLE_WELL_1D
    parameter_names = ("a", "b")
    a = 1.0  # eV/Å⁴
    b = 1.0  # eV/Å²


class Rugged1D(External1D):
    """U = (x⁴ − x³ − 16x² + 4x + 48)/50 + sin(30(x + 5))/5 per particle (eV, x in Å).

    A tilted quartic double well (the authors' polynomial (x−4)(x−2)(x+2)(x+3)/50)
    roughened by a fast sine of amplitude 0.2 and period 2π/30 ≈ 0.21.
    """

    name = "Rugged1D"
    kind = RUGGED_1D
    parameter_names = ("c0", "c1", "c2", "c3", "c4", "amplitude", "wavenumber", "offset")
    # (x⁴ − x³ − 16x² + 4x + 48)/50 + sin(30(x + 5))/5, as polynomial coefficients (eV/Åᵏ), amplitude eV,
    # wavenumber 1/Å, offset Å
    c0, c1, c2, c3, c4 = 48 / 50, 4 / 50, -16 / 50, -1 / 50, 1 / 50
    amplitude, wavenumber, offset = 0.2, 30.0, 5.0


class LennardJones1D(External1D):
    """U = 4ε[(σ/|x|)¹² − (σ/|x|)⁶]: each particle against a fixed particle at the origin.

    sigma Å and epsilon eV, one value or one per particle; particles with
    |x| < ``min_distance`` (Å) raise :class:`~systems.errors.CloseContactError`.
    """

    name = "LennardJones1D"
    kind = LENNARD_JONES_1D
    parameter_names = ("sigma", "epsilon")

    def __init__(self, sigma=1.0, epsilon=1.0, min_distance: float = 0.1):
        super().__init__()
        self.sigma = _check_positive(self.name, "sigma", sigma)
        self.epsilon = _check_positive(self.name, "epsilon", epsilon)
        self.min_distance = float(min_distance)

    def _check_contact(self, closest: float, i: int) -> None:
        if closest < self.min_distance:
            raise CloseContactError(
                f"{self.name}: particle {i} is {closest:.4g} Å from the fixed particle at the origin, closer than "
                f"the {self.min_distance} Å this potential accepts"
            )


def harmonic_exact(x0, v0, k, m, t):
    """Exact motion of x'' = −(k/m) x: returns (x Å, v Å per ASE time unit).

    x0 Å, v0 Å per ASE time unit, k eV/Å², m amu, t ASE time units; all
    broadcast against each other (ω = √(k/m) per ASE time unit).
    """
    x0, v0, k, m, t = (np.asarray(a, dtype=np.float64) for a in (x0, v0, k, m, t))
    omega = np.sqrt(k / m)
    c, s = np.cos(omega * t), np.sin(omega * t)
    return x0 * c + v0 / omega * s, -x0 * omega * s + v0 * c
