"""Fuzz of simulation checkpoints: any mutation of the metadata document (values, types, keys) or of the
arrays gives a correct load or an InputError naming the file, never another exception."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrators.checkpoint import load_checkpoint, save_checkpoint
from systems.errors import InputError
from systems.state import System

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ARRAY_NAMES = ("positions", "velocities", "cell", "pbc", "masses", "numbers", "a0", "a1")


def _pristine(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.npz"
    rng = np.random.default_rng(0)
    system = System(numbers=[18, 18, 18], masses=[39.948] * 3, positions=rng.random((3, 3)) * 5,
                    velocities=rng.normal(size=(3, 3)), cell=np.eye(3) * 6, pbc=True, time=1.5, info={"k": 1})
    integrator = {"kind": "VelocityVerlet", "timestep": 0.1, "forces": rng.normal(size=(3, 3)),
                  "rng": {"bit_generator": "PCG64", "state": {"state": 5, "inc": 7}}}
    save_checkpoint(path, system, 12, integrator, {"neighbor_list": {"reference": rng.random((3, 3))}})
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return _pristine(tmp_path_factory)


def _paths(doc, prefix=()):
    """Every (path, value) of a JSON document."""
    yield prefix, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for k, v in enumerate(doc):
            yield from _paths(v, prefix + (k,))


def _load_or_named_error(path):
    try:
        checkpoint = load_checkpoint(path)
    except InputError as err:
        assert str(path) in str(err)
        return None
    # a load that succeeds is a usable state
    assert checkpoint.system.positions.shape == (checkpoint.system.n_atoms, 3)
    assert isinstance(checkpoint.step, int) and checkpoint.step >= 0
    assert isinstance(checkpoint.integrator_state, dict)
    return checkpoint


def test_the_pristine_checkpoint_loads(pristine, tmp_path):
    path = tmp_path / "c.npz"
    np.savez(path, **pristine)
    checkpoint = load_checkpoint(path)
    assert checkpoint.step == 12 and checkpoint.system.n_atoms == 3
    assert checkpoint.integrator_state["forces"].shape == (3, 3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_metadata_loads_or_is_named(pristine, tmp_path, data):
    document = json.loads(str(pristine["__meta__"]))
    entries = list(_paths(document))
    target, _ = data.draw(st.sampled_from(entries), label="where")
    action = data.draw(st.sampled_from(["replace", "delete", "add"]), label="action")
    value = data.draw(JSON_VALUES, label="value")
    if not target:
        document = value if action == "replace" else document
    else:
        parent = document
        for key in target[:-1]:
            parent = parent[key]
        key = target[-1]
        if action == "replace":
            parent[key] = value
        elif action == "delete":
            parent.pop(key) if isinstance(parent, dict) else parent.pop(key)
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=8), label="new key")] = value
        else:
            parent.append(value)
    arrays = dict(pristine)
    arrays["__meta__"] = np.array(json.dumps(document))
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    _load_or_named_error(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_arrays_load_or_are_named(pristine, tmp_path, data):
    arrays = dict(pristine)
    name = data.draw(st.sampled_from(ARRAY_NAMES + ("__meta__",)), label="array")
    action = data.draw(st.sampled_from(["drop", "reshape", "dtype", "nan", "truncate", "text"]), label="action")
    arr = arrays[name]
    if action == "drop":
        del arrays[name]
    elif action == "reshape":
        arrays[name] = arr.reshape(-1) if arr.ndim != 1 else arr.reshape(1, -1)
    elif action == "dtype":
        dtype = data.draw(st.sampled_from([np.float32, np.int8, np.bool_, np.complex64, "U3"]))
        arrays[name] = arr.astype(dtype) if arr.dtype.kind != "U" else np.zeros(3, dtype=dtype)
    elif action == "nan" and arr.dtype.kind == "f" and arr.size:
        flat = arr.astype(np.float64).reshape(-1).copy()
        flat[data.draw(st.integers(0, flat.size - 1))] = np.nan
        arrays[name] = flat.reshape(arr.shape)
    elif action == "truncate" and arr.ndim and arr.shape[0]:
        arrays[name] = arr[: data.draw(st.integers(0, arr.shape[0] - 1))]
    elif action == "text":
        arrays[name] = np.array(data.draw(st.text(max_size=20)))
    path = tmp_path / "a.npz"
    np.savez(path, **arrays)
    _load_or_named_error(path)
