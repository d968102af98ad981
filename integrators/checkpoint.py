"""Checkpoint files: one ``.npz`` written atomically, readable without pickle.

Arrays (positions, velocities, cached forces, ...) are stored as float64/int
arrays, everything else (step, time, RNG ``bit_generator.state``, integrator
scalars) as one JSON document inside the same archive. Floats survive exactly
(binary arrays; JSON floats round-trip through ``repr``), so a resumed run
continues bit for bit.
"""

from __future__ import annotations

import json
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


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return np.array(arrays[obj["__array__"]])
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


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


def load_checkpoint(path) -> Checkpoint:
    """Read a file written by :func:`save_checkpoint`; :class:`InputError` naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # zip or npy errors: say which file
        raise InputError(f"checkpoint {str(path)!r} is not a readable .npz file: {err}") from err
    if "__meta__" not in arrays:
        raise InputError(f"checkpoint {str(path)!r} has no metadata: not written by save_checkpoint")
    document = json.loads(str(arrays.pop("__meta__")))
    if document.get("format") != FORMAT or document.get("version") != VERSION:
        raise InputError(f"checkpoint {str(path)!r} has format {document.get('format')!r} "
                         f"version {document.get('version')!r}; expected {FORMAT!r} version {VERSION}")
    system = System(arrays["numbers"], arrays["masses"], arrays["positions"], arrays["velocities"], arrays["cell"],
                    arrays["pbc"], document["time"], _decode(document.get("info") or {}, arrays))
    return Checkpoint(system, int(document["step"]), _decode(document["integrator"], arrays),
                      _decode(document["provider"], arrays))
