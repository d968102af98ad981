"""Safe model files: one file holding a JSON header and a tensor state dict.

A model file is ``torch.save({"header_json": str, "state_dict": {name: Tensor}})``.
It is read back with ``torch.load(..., weights_only=True)``, whose unpickler only
rebuilds tensors and plain containers, so a file can never run code: a crafted
pickle (for instance one whose ``__reduce__`` calls ``os.system``) is refused with
:class:`ModelFileError` before anything executes.

The header is JSON and always carries ``kind`` (``"egnn"``, ``"egnn_nbody"``,
``"lstm"``...), ``format_version``, ``package_version`` and ``created`` (UTC, ISO
8601); each model adds its architecture, cutoff, species, units, normalisation and
a training-data hash (:func:`data_hash`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import pathlib
import pickle
from importlib import metadata

import numpy as np
import torch

from systems.atomic_file import atomic_write

from systems.errors import InputError

FORMAT_VERSION = 1
"""Version of the on-disk layout; bumped whenever old readers could misread new files."""

_RESERVED = ("format_version", "package_version", "created")


class ModelFileError(InputError):
    """A model file is missing, corrupt, unsafe, of another format version or of the wrong kind.

    The message names the file and the problem.
    """


def package_version() -> str:
    """Installed version of ``surrogate-md`` ("unknown" when run from an uninstalled tree)."""
    try:
        return metadata.version("surrogate-md")
    except metadata.PackageNotFoundError:
        return "unknown"


def save_model_file(path, state_dict: dict[str, torch.Tensor], header: dict) -> pathlib.Path:
    """Write a model file atomically (temporary file, fsync, ``os.replace``).

    Parameters
    ----------
    path : str or PathLike
        Destination; parent directories are created.
    state_dict : dict[str, torch.Tensor]
        Weights and buffers (``model.state_dict()``); tensors are detached and moved to CPU.
    header : dict
        JSON-serialisable description of the model. Must contain ``"kind"``; the keys
        ``format_version``, ``package_version`` and ``created`` are added here.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = pathlib.Path(path)
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str) or not header["kind"]:
        raise ModelFileError(f"model file {path}: header must be a dict with a non-empty string 'kind'")
    clash = [k for k in _RESERVED if k in header]
    if clash:
        raise ModelFileError(f"model file {path}: header keys {clash} are reserved and set by save_model_file")
    full_header = dict(header)
    full_header["format_version"] = FORMAT_VERSION
    full_header["package_version"] = package_version()
    full_header["created"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        header_json = json.dumps(full_header, sort_keys=True)
    except TypeError as exc:
        raise ModelFileError(f"model file {path}: header is not JSON-serialisable ({exc})") from exc
    tensors = {}
    for name, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise ModelFileError(f"model file {path}: state_dict entry {name!r} is {type(value).__name__}, not a Tensor")
        tensors[str(name)] = value.detach().cpu().clone()

    return atomic_write(path, lambda handle: torch.save({"header_json": header_json, "state_dict": tensors}, handle))


def load_model_file(path, *, expected_kind: str | None = None, map_location="cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """Read a model file safely (``weights_only=True``: no code can run).

    Parameters
    ----------
    path : str or PathLike
        The model file.
    expected_kind : str, optional
        Refuse files whose header ``kind`` differs (e.g. loading an LSTM file as an EGNN).
    map_location : str or torch.device
        Passed to ``torch.load`` (default ``"cpu"``).

    Returns
    -------
    (header, state_dict) : tuple[dict, dict[str, torch.Tensor]]

    Raises
    ------
    ModelFileError
        Missing, unreadable, corrupt or unsafe file; a ``format_version`` other than
        :data:`FORMAT_VERSION` (both versions named); a ``kind`` other than ``expected_kind``.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global outside torch's allow-list before calling it.
        raise ModelFileError(
            f"model file {path} was refused: it is not a plain tensor file and may contain code ({_first_line(exc)})"
        ) from exc
    except Exception as exc:  # zip/EOF/runtime errors from a truncated or foreign file
        raise ModelFileError(f"model file {path} is corrupt or not a model file ({type(exc).__name__}: {_first_line(exc)})") from exc

    if not isinstance(payload, dict) or not isinstance(payload.get("header_json"), str) or not isinstance(
        payload.get("state_dict"), dict
    ):
        raise ModelFileError(f"model file {path} is not a surrogate-md model file (missing 'header_json' or 'state_dict')")
    try:
        header = json.loads(payload["header_json"])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"model file {path}: header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"model file {path}: header is not a JSON object")

    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"model file {path} has format_version {version!r} (written by surrogate-md "
            f"{header.get('package_version', 'unknown')}); this surrogate-md {package_version()} reads "
            f"format_version {FORMAT_VERSION}"
        )
    if expected_kind is not None and header.get("kind") != expected_kind:
        raise ModelFileError(f"model file {path} holds a {header.get('kind')!r} model, expected {expected_kind!r}")
    state_dict = payload["state_dict"]
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelFileError(f"model file {path}: state_dict entries {bad} are not tensors")
    return header, state_dict


def data_hash(*arrays) -> str:
    """SHA-256 hex digest over the bytes, shapes and dtypes of arrays (numpy or torch).

    Used for the header's training-data hash: the same data in the same order gives
    the same hash; any change of value, shape or dtype changes it.
    """
    digest = hashlib.sha256()
    for k, array in enumerate(arrays):
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        array = np.ascontiguousarray(np.asarray(array))
        if array.dtype == object:
            raise InputError(f"data_hash: argument {k} has dtype object; pass numeric arrays")
        digest.update(f"{k}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
