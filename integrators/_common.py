"""Helpers shared by the integrators: timestep keywords, seeded RNGs, force caches.

Not public API; the integrators re-export what users need.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from systems import units
from systems.errors import InputError
from systems.forces import ForceResult


def resolve_timestep(timestep: float | None, timestep_fs: float | None, owner: str) -> float:
    """The timestep in ASE time units from exactly one of ``timestep`` (ASE units) or ``timestep_fs`` (fs)."""
    if (timestep is None) == (timestep_fs is None):
        raise InputError(f"{owner}: give exactly one of `timestep` (ASE time units) or `timestep_fs` (fs), "
                         f"got timestep={timestep!r}, timestep_fs={timestep_fs!r}")
    name, value = ("timestep", timestep) if timestep is not None else ("timestep_fs", timestep_fs)
    dt = float(value) if timestep is not None else float(value) * units.fs
    if not np.isfinite(dt) or dt <= 0:
        raise InputError(f"{owner}: `{name}` must be a positive finite time, got {value!r}")
    return dt


def positive(value: float, name: str, owner: str) -> float:
    """``value`` as a float, or :class:`InputError` naming ``name`` if it is not positive and finite."""
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InputError(f"{owner}: `{name}` must be positive and finite, got {value!r}")
    return value


def make_rng(seed) -> np.random.Generator:
    """A ``np.random.Generator`` from an int seed, a SeedSequence or an existing Generator (used as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise InputError("`seed` is required: every random number must come from a seeded generator")
    return np.random.default_rng(seed)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The bit generator's full state (a JSON-able dict of ints and strings)."""
    return copy.deepcopy(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore a state from :func:`rng_state`; the bit generator kind must match."""
    kind = type(rng.bit_generator).__name__
    if state.get("bit_generator") != kind:
        raise InputError(f"checkpoint RNG is {state.get('bit_generator')!r} but this integrator uses {kind!r}")
    rng.bit_generator.state = copy.deepcopy(state)


def result_to_dict(result: ForceResult | None) -> dict[str, Any] | None:
    """A ForceResult as plain data (arrays copied) for a checkpoint."""
    if result is None:
        return None
    return {
        "energy": float(result.energy),
        "forces": None if result.forces is None else np.array(result.forces, dtype=np.float64),
        "stress": None if result.stress is None else np.array(result.stress, dtype=np.float64),
        "energies": None if result.energies is None else np.array(result.energies, dtype=np.float64),
        "uncertainty": _uncertainty_copy(result.uncertainty),
    }


def _uncertainty_copy(uncertainty: dict | None) -> dict[str, Any] | None:
    """A committee's uncertainty dict with arrays copied as float64 and numbers as floats (None stays None)."""
    if uncertainty is None:
        return None
    return {str(k): np.array(v, dtype=np.float64) if np.ndim(v) else float(v) for k, v in uncertainty.items()}


def result_from_dict(data: dict[str, Any] | None) -> ForceResult | None:
    """Inverse of :func:`result_to_dict` (a dict without ``uncertainty``, from an older checkpoint, gives None)."""
    if data is None:
        return None
    arr = lambda x: None if x is None else np.array(x, dtype=np.float64)  # noqa: E731
    return ForceResult(float(data["energy"]), arr(data["forces"]), arr(data["stress"]), arr(data["energies"]),
                       _uncertainty_copy(data.get("uncertainty")))


def close_all(items) -> None:
    """``item.close()`` for every item, even after one raises; then re-raise the first error."""
    errors = []
    for item in items:
        try:
            item.close()
        except Exception as err:  # close the others, then re-raise
            errors.append(err)
    if errors:
        raise errors[0]
