"""Checkpoint files: one ``.npz`` written atomically, readable without pickle.

Arrays (positions, velocities, cached forces, ...) are stored as float64/int
arrays, everything else (step, time, RNG ``bit_generator.state``, integrator
scalars) as one JSON document inside the same archive. Floats survive exactly
(binary arrays; JSON floats round-trip through ``repr``), so a resumed run
continues bit for bit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from systems.errors import InputError
from systems.atomic_file import atomic_write
from systems.state import System

FORMAT = "surrogate-md checkpoint"
VERSION = 1


class Checkpoint(NamedTuple):
    """What :func:`load_checkpoint` returns."""

    system: System
    step: int
    integrator_state: dict[str, Any]
    provider_state: dict[str, Any] | None


def _encode(obj, arrays: dict[str, np.ndarray]):
    """Replace arrays by ``{"__array__": key}`` references, collecting them in ``arrays``."""
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(obj)
        return {"__array__": key}
    if isinstance(obj, dict):
        if "__array__" in obj:
            raise ValueError("checkpoint state may not use the key '__array__'")
        return {str(k): _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    return obj


def _decode(obj, arrays, where: str):
    """Inverse of :func:`_encode`; ``where`` names the field for errors (``integrator.rng``)."""
    if isinstance(obj, dict):
        if "__array__" in obj:
            key = obj["__array__"]
            if set(obj) != {"__array__"} or not isinstance(key, str) or key not in arrays:
                raise _FieldError(where, f"refers to an array {key!r} the file does not hold")
            return np.array(arrays[key])
        return {k: _decode(v, arrays, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays, f"{where}[{n}]") for n, v in enumerate(obj)]
    return obj


class _FieldError(Exception):
    """A malformed field of a checkpoint (turned into an InputError naming the file)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field


def save_checkpoint(path, system: System, step: int, integrator_state: dict[str, Any],
                    provider_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically: temporary file, flush, fsync, ``os.replace``, fsync of the folder.

    A crash at any moment leaves either the previous checkpoint or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    document = {
        "format": FORMAT, "version": VERSION, "step": int(step), "time": float(system.time),
        "info": _encode(system.info, arrays),
        "integrator": _encode(integrator_state, arrays), "provider": _encode(provider_state, arrays),
    }
    arrays.update(positions=system.positions, velocities=system.velocities, cell=system.cell, pbc=system.pbc,
                  masses=system.masses, numbers=system.numbers)
    meta = np.array(json.dumps(document, default=_json_fallback))
    return atomic_write(path, lambda handle: np.savez(handle, __meta__=meta, **arrays))


def _json_fallback(x):
    raise TypeError(f"checkpoint state holds a {type(x).__name__}, which is neither an array nor JSON data")


#: The arrays of the system, their dtype kind and shape (``n``: atom count).
SYSTEM_ARRAYS = {"numbers": ("iu", ("n",)), "masses": ("fiu", ("n",)), "positions": ("fiu", ("n", 3)),
                 "velocities": ("fiu", ("n", 3)), "cell": ("fiu", (3, 3)), "pbc": ("biu", (3,))}


def load_checkpoint(path) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint`.

    Every field is checked before it is used: the metadata (a JSON object with
    ``format``, ``version``, a whole non-negative ``step``, a finite ``time``,
    an ``integrator`` state object), the system arrays (present, numeric, with
    shapes that agree on the atom count) and every array the states refer to.
    Anything else raises :class:`InputError` naming the file and the field.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise InputError(f"checkpoint {name!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # zip or npy errors: say which file
        raise InputError(f"checkpoint {name!r} is not a readable .npz file: {err}") from None
    try:
        return _parse(arrays)
    except _FieldError as err:
        raise InputError(f"checkpoint {name!r}: {err}") from None


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except OverflowError:  # a JSON integer beyond float range
        return False


def _parse(arrays: dict[str, np.ndarray]) -> Checkpoint:
    if "__meta__" not in arrays:
        raise _FieldError("__meta__", "is missing: not written by save_checkpoint")
    meta = arrays.pop("__meta__")
    if meta.shape != () or meta.dtype.kind != "U":
        raise _FieldError("__meta__", f"must be one JSON string, got a {meta.dtype} array of shape {meta.shape}")
    try:
        document = json.loads(str(meta))
    except (ValueError, RecursionError) as err:
        raise _FieldError("__meta__", f"is not valid JSON ({err})") from None
    if not isinstance(document, dict):
        raise _FieldError("__meta__", f"must be a JSON object, got {type(document).__name__}")
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise _FieldError("__meta__", f"has format {document.get('format')!r} version {document.get('version')!r}; "
                                      f"expected {FORMAT!r} version {VERSION}")
    step = document.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise _FieldError("step", f"must be a whole number ≥ 0, got {step!r}")
    time = document.get("time")
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not _finite(time):
        raise _FieldError("time", f"must be a finite number (ASE time units), got {time!r}")
    for key in ("info", "provider"):
        if document.get(key) is not None and not isinstance(document[key], dict):
            raise _FieldError(key, f"must be a JSON object or null, got {type(document[key]).__name__}")
    integrator = document.get("integrator")
    if not isinstance(integrator, dict):
        raise _FieldError("integrator", "(the integrator state) is missing" if integrator is None else
                          f"(the integrator state) must be a JSON object, got {type(integrator).__name__}")
    for key, (kinds, shape) in SYSTEM_ARRAYS.items():
        if key not in arrays:
            raise _FieldError(key, "is missing")
        if arrays[key].dtype.kind not in kinds:
            expected = "whole numbers" if kinds == "iu" else "numbers"
            raise _FieldError(key, f"has dtype {arrays[key].dtype}; expected {expected}")
    numbers = arrays["numbers"]
    if numbers.ndim != 1:
        raise _FieldError("numbers", f"must be one atomic number per atom (1-D), got shape {numbers.shape}")
    n = len(numbers)
    if n and (numbers.min() < 0 or numbers.max() > 118):
        raise _FieldError("numbers", f"must be atomic numbers 0..118, got {numbers.min()}..{numbers.max()}")
    for key, (_, shape) in SYSTEM_ARRAYS.items():
        expect = tuple(n if d == "n" else d for d in shape)
        arr = arrays[key]
        if arr.shape != expect:
            raise _FieldError(key, f"has shape {arr.shape}; expected {expect} (numbers holds {n} atoms)")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise _FieldError(key, "holds values that are not finite")
    info = _decode(document.get("info") or {}, arrays, "info")
    try:
        system = System(arrays["numbers"], arrays["masses"], arrays["positions"], arrays["velocities"],
                        arrays["cell"], arrays["pbc"], float(time), info)
    except InputError as err:
        raise _FieldError("system", f"is not valid: {err}") from None
    return Checkpoint(system, int(step), _decode(integrator, arrays, "integrator"),
                      _decode(document.get("provider"), arrays, "provider"))
