"""EGNN committees: K energy models in one model file, and their mean and spread.

A committee file is an ordinary model file (:mod:`surrogate.model_file`: JSON header, tensors,
content hash) whose header has ``kind`` :data:`COMMITTEE_KIND`, ``members`` K and
``member_headers`` (each member's own EGNN header, as :func:`surrogate.egnn.train.model_header`
writes it), and whose tensors are each member's state dict under the prefix ``member<k>.``.
Every member is validated against its header exactly as a single EGNN file is; members must
share cutoff, species and bond-edge rule (they are evaluated on one graph).

The spread is the population standard deviation over members (ddof=0, divide by K, not K−1):
the committee is the ensemble itself, not a sample used to estimate a wider one. It is
computed from pairwise differences, var = Σ_ij (x_i − x_j)² / (2K²), which equals the
usual formula and is exactly zero when the members agree bit for bit.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np
import torch

from surrogate.model_file import ModelFileError, load_model_file, save_model_file
from systems.errors import InputError

from .model import EGNNEnergyModel

#: ``kind`` of a committee model file.
COMMITTEE_KIND = "egnn-committee"

#: What the spread is, as written into every committee header.
STD_DEFINITION = "population standard deviation over members (ddof=0)"


def member_prefix(k: int) -> str:
    """Prefix of member ``k``'s tensors in a committee file ("member0.", ...)."""
    return f"member{k}."


def check_members(models: Sequence[EGNNEnergyModel], source: str = "committee") -> list[EGNNEnergyModel]:
    """``models`` as a list, refused (InputError naming ``source`` and the member) unless there is at
    least one and all share cutoff (Å), species and bond-edge rule with member 0."""
    models = list(models)
    if not models:
        raise InputError(f"{source}: a committee needs at least one member, got none")
    for k, model in enumerate(models):
        if not isinstance(model, EGNNEnergyModel):
            raise InputError(f"{source}: member {k} is a {type(model).__name__}, not an EGNNEnergyModel")
    first = models[0]
    for k, model in enumerate(models[1:], start=1):
        for name, a, b in (("cutoff", first.cutoff, model.cutoff), ("species", first.species, model.species),
                           ("bond_edges", first.bond_edges, model.bond_edges)):
            if a != b:
                raise InputError(f"{source}: member {k} has {name} {b!r}, member 0 has {a!r}; the members of a "
                                 "committee must share cutoff, species and bond-edge rule")
    return models


def committee_header(models: Sequence[EGNNEnergyModel], training_hashes: Sequence[str | None] | None = None,
                     info: dict | None = None) -> dict:
    """The JSON header of a committee file: kind, member count, each member's EGNN header, the
    shared cutoff and species, the std definition, and ``info`` (e.g. how the members were trained)."""
    from .train import model_header

    models = check_members(models)
    hashes = list(training_hashes) if training_hashes is not None else [None] * len(models)
    if len(hashes) != len(models):
        raise InputError(f"committee: {len(hashes)} training hashes for {len(models)} members")
    return {
        "kind": COMMITTEE_KIND,
        "members": len(models),
        "member_headers": [model_header(m, h) for m, h in zip(models, hashes)],
        "cutoff": models[0].cutoff,
        "species": list(models[0].species),
        "std": STD_DEFINITION,
        "info": dict(info or {}),
    }


def save_committee(models: Sequence[EGNNEnergyModel], path, training_hashes: Sequence[str | None] | None = None,
                   info: dict | None = None) -> pathlib.Path:
    """Write the members into one committee model file at ``path`` (atomically); returns the path."""
    header = committee_header(models, training_hashes, info)
    state = {}
    for k, model in enumerate(models):
        state.update({member_prefix(k) + name: t for name, t in model.state_dict().items()})
    return save_model_file(path, state, header)


def is_committee_file(path) -> bool:
    """Whether the model file at ``path`` holds a committee (raises ModelFileError for a bad file)."""
    header, _ = load_model_file(path)
    return header.get("kind") == COMMITTEE_KIND


def load_committee(path, device="cpu", dtype=None) -> list[EGNNEnergyModel]:
    """The members [K] of a committee file, each validated like a single EGNN file.

    device : "cpu", "cuda", ...; dtype : "float32"/"float64" or None for the stored dtype.
    Raises :class:`ModelFileError` naming the file and member for a corrupt file (content hash),
    a member whose header does not describe its tensors, tensors of no member, or members that
    disagree on cutoff, species or bond-edge rule.
    """
    header, state = load_model_file(path, expected_kind=COMMITTEE_KIND)
    return _members(path, header, state, device, dtype)


def load_models(path, device="cpu", dtype=None) -> tuple[list[EGNNEnergyModel], bool]:
    """(models, is_committee) from either an EGNN file (one model) or a committee file."""
    header, state = load_model_file(path)
    kind = header.get("kind")
    if kind == COMMITTEE_KIND:
        return _members(path, header, state, device, dtype), True
    if kind != "egnn":
        raise ModelFileError(f"model file {path} holds a {kind!r} model, expected 'egnn' or {COMMITTEE_KIND!r}")
    from .train import load_egnn

    return [load_egnn(path, device=device, dtype=dtype)], False


def _members(path, header: dict, state: dict, device, dtype) -> list[EGNNEnergyModel]:
    from ..dtypes import resolve_dtype
    from .train import MODEL_KIND, trained_on_stress, validate_egnn_header

    count = header.get("members")
    headers = header.get("member_headers")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ModelFileError(f"committee file {path}: header field 'members' must be an integer >= 1, got {count!r}")
    if not isinstance(headers, list) or len(headers) != count:
        raise ModelFileError(f"committee file {path}: header field 'member_headers' must list {count} member "
                             f"headers, got {len(headers) if isinstance(headers, list) else type(headers).__name__}")
    parts: list[dict] = [{} for _ in range(count)]
    for name, tensor in state.items():
        k = _member_of(name, count)
        if k is None:
            raise ModelFileError(f"committee file {path}: tensor {name!r} belongs to no member "
                                 f"(expected the prefixes member0. ... member{count - 1}.)")
        parts[k][name[len(member_prefix(k)):]] = tensor
    models = []
    for k, (sub_header, sub_state) in enumerate(zip(headers, parts)):
        where = f"{os.fspath(path)} (member {k})"
        if not isinstance(sub_header, dict) or sub_header.get("kind") != MODEL_KIND:
            raise ModelFileError(f"committee file {where}: member header must be an {MODEL_KIND!r} header")
        arch, stored = validate_egnn_header(where, sub_header, sub_state)
        model = EGNNEnergyModel(**arch, dtype=stored)
        model.load_state_dict(sub_state)
        model.trained_on_stress = trained_on_stress(where, sub_header)
        models.append(model.to(device=torch.device(device), dtype=stored if dtype is None else resolve_dtype(dtype)))
    try:
        return check_members(models, f"committee file {path}")
    except InputError as exc:
        raise ModelFileError(str(exc)) from None


def _member_of(name: str, count: int) -> int | None:
    """The member index of tensor ``name`` ("member3.embedding.weight" -> 3), None if it has no valid prefix."""
    head, dot, _ = name.partition(".")
    if not dot or not head.startswith("member") or not head[6:].isdigit():
        return None
    k = int(head[6:])
    return k if k < count and head == f"member{k}" else None


# --------------------------------------------------------------------------- statistics
def population_std(values: np.ndarray) -> np.ndarray:
    """Population standard deviation (ddof=0) over axis 0 of ``values`` [K, ...], from pairwise differences
    (exactly zero when all K rows are equal; otherwise equal to ``np.std(values, axis=0)`` to rounding)."""
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[0]
    diff = values[:, None] - values[None, :]  # [K, K, ...]
    return np.sqrt((diff * diff).sum(axis=(0, 1)) / (2.0 * k * k))


def uncertainty(energies: np.ndarray, forces: np.ndarray) -> dict:
    """The committee spread of ``ForceResult.uncertainty`` from member energies [K] (eV) and forces [K, n, 3] (eV/Å).

    ``energy_std`` eV; ``forces_std`` [n] eV/Å, the norm of each atom's per-component force std vector;
    ``max_force_std`` eV/Å, its largest value (0 for no atoms). All population stds (ddof=0).
    """
    forces_std = np.linalg.norm(population_std(forces), axis=-1) if np.size(forces) else np.zeros(0)
    return {
        "energy_std": float(population_std(np.asarray(energies, dtype=np.float64).reshape(-1))),
        "forces_std": forces_std,
        "max_force_std": float(forces_std.max()) if forces_std.size else 0.0,
    }
