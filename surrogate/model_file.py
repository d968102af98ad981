"""Safe model files: one file holding a JSON header and a tensor state dict.

A model file is ``torch.save({"header_json": str, "state_dict": {name: Tensor},
"content_sha256": str})``. It is read back with ``torch.load(..., weights_only=True)``,
whose unpickler only rebuilds tensors and plain containers, so a file can never run
code: a crafted pickle (for instance one whose ``__reduce__`` calls ``os.system``) is
refused with :class:`ModelFileError` before anything executes.

Integrity: ``content_sha256`` is the SHA-256 of the header JSON and of every tensor
(name, dtype, shape and bytes, in sorted name order), see :func:`content_hash`. It is
written at save and checked at load, so a flipped byte in the weights, or an edited
header (a cutoff, species list, stride or window the weights cannot reveal), is refused
as modified. Each model kind then validates its header field by field against the
weights' shapes (:class:`HeaderCheck`) before any module is allocated.

The header is JSON and always carries ``kind`` (``"egnn"``, ``"egnn_nbody"``,
``"lstm"``...), ``format_version``, ``package_version`` and ``created`` (UTC, ISO
8601); each model adds its architecture, cutoff, species, units, normalisation and
a training-data hash (:func:`data_hash`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import pathlib
import pickle
import re
from importlib import metadata

import numpy as np
import torch

from systems.atomic_file import atomic_write

from systems.errors import InputError

FORMAT_VERSION = 2
"""Version of the on-disk layout; bumped whenever old readers could misread new files.

Version 2 added ``content_sha256``; version-1 files (no hash) are refused with a message
saying so, since nothing could show that their header and weights are as written."""

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
    payload = {"header_json": header_json, "state_dict": tensors, "content_sha256": content_hash(header_json, tensors)}
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def content_hash(header_json: str, state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 hex digest of a model file's content: the header JSON text and every tensor.

    Tensors enter in sorted name order, each as its name, dtype, shape and raw bytes
    (native byte order, C order), so any change of a header character, a tensor name,
    dtype, shape or a single weight bit changes the digest.
    """
    digest = hashlib.sha256()
    digest.update(b"surrogate-md model file\0")
    text = header_json.encode("utf-8")
    digest.update(f"header|{len(text)}|".encode())
    digest.update(text)
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"|{name}|{tensor.dtype}|{list(tensor.shape)}|{tensor.numel() * tensor.element_size()}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


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
        :data:`FORMAT_VERSION` (both versions named); no content hash, or one that differs
        from the header and tensors read (a modified or damaged file); a ``kind`` other
        than ``expected_kind``. The header's fields are not checked here: each model's
        loader does that against the weights (:class:`HeaderCheck`).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global outside torch's allow-list before calling it. Torch's own message
        # suggests retrying with weights_only=False (which would run the payload); ours names only what was found.
        raise ModelFileError(unsafe_pickle_message(f"model file {path}", exc)) from None
    except Exception as exc:  # zip/EOF/runtime errors from a truncated or foreign file
        raise ModelFileError(f"model file {path} is corrupt or not a model file ({type(exc).__name__}: {_first_line(exc)})") from exc

    if not isinstance(payload, dict) or not isinstance(payload.get("header_json"), str) or not isinstance(
        payload.get("state_dict"), dict
    ):
        raise ModelFileError(f"model file {path} is not a surrogate-md model file (missing 'header_json' or 'state_dict')")
    state_dict = payload["state_dict"]
    bad = [k for k, v in state_dict.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelFileError(f"model file {path}: state_dict entries {bad[:5]} are not named tensors")
    try:
        header = json.loads(payload["header_json"])
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"model file {path}: header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"model file {path}: header is not a JSON object")

    version = header.get("format_version")
    if version == 1 and FORMAT_VERSION == 2:
        raise ModelFileError(
            f"model file {path} has format_version 1 (written by surrogate-md {header.get('package_version', 'unknown')}), "
            "which carries no content hash, so its header and weights cannot be verified; this surrogate-md "
            f"{package_version()} reads format_version {FORMAT_VERSION} only: retrain the model"
        )
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"model file {path} has format_version {version!r} (written by surrogate-md "
            f"{header.get('package_version', 'unknown')}); this surrogate-md {package_version()} reads "
            f"format_version {FORMAT_VERSION}"
        )
    stored_hash = payload.get("content_sha256")
    if not isinstance(stored_hash, str):
        raise ModelFileError(f"model file {path} has no content hash ('content_sha256'), so it cannot be verified")
    actual = content_hash(payload["header_json"], state_dict)
    if actual != stored_hash:
        raise ModelFileError(
            f"model file {path} was modified or damaged after it was written: its content hash is {actual[:16]}…, "
            f"the file records {stored_hash[:16]}… (header or weights differ from what was saved)"
        )
    if expected_kind is not None and header.get("kind") != expected_kind:
        raise ModelFileError(f"model file {path} holds a {header.get('kind')!r} model, expected {expected_kind!r}")
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


def unsafe_pickle_message(what: str, exc: BaseException) -> str:
    """Our refusal of a file that ``torch.load(weights_only=True)`` refused (``exc``, an UnpicklingError).

    ``what`` names the file (``"model file runs/best.pt"``). The message names the blocked global
    when torch's names one, and, unlike torch's, never suggests retrying with ``weights_only=False``
    (which would run the file's code).
    """
    found = re.search(r"GLOBAL ([A-Za-z_][\w.]*)", str(exc))
    blocked = f" (the global {found.group(1)!r})" if found else ""
    return (f"{what} was refused: it holds Python objects other than tensors and plain containers{blocked}, "
            "which can run code when loaded. surrogate-md never loads such files; use one written by surrogate-md")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_MISSING = object()


class HeaderCheck:
    """Field-by-field validation of a model header against its weights, before any module is allocated.

    Every failure raises :class:`ModelFileError` naming the file, the header field (dotted,
    e.g. ``architecture.hidden``), its value and, for a conflict with the weights, the
    tensor and its shape. Typical use in a loader::

        check = HeaderCheck(path, header, state)
        hidden = check.positive_int("architecture.hidden")
        check.dim("architecture.hidden", hidden, "embedding.weight", 1)
        check.same_shapes(lambda: Model(hidden=hidden, ...))   # built on the meta device: no memory
        model = Model(hidden=hidden, ...)                      # now bounded by the file's own tensors

    Parameters
    ----------
    path : str or PathLike
        The model file (for messages).
    header : dict
        Its JSON header.
    state_dict : dict[str, torch.Tensor]
        Its tensors.
    """

    def __init__(self, path, header: dict, state_dict: dict[str, torch.Tensor]):
        self.path, self.header, self.state = pathlib.Path(path), header, state_dict

    def fail(self, field: str, problem: str) -> ModelFileError:
        """The error for header field ``field`` (to ``raise``)."""
        return ModelFileError(f"model file {self.path}: header field {field!r} {problem}")

    def architecture_version(self, expected: int, model: str) -> None:
        """Refuse a header whose ``architecture_version`` is not ``expected`` (``model`` names the kind)."""
        version = self.header.get("architecture_version")
        if version != expected:
            raise ModelFileError(f"model file {self.path}: {model} architecture version {version!r} is incompatible "
                                 f"with this surrogate-md (reads version {expected}); retrain, or use surrogate-md "
                                 f"{self.header.get('package_version', '?')}")

    # ------------------------------------------------------------ values
    def get(self, field: str, default=_MISSING):
        """Value of the dotted ``field``; ``default`` when absent (if given), else an error naming it."""
        node = self.header
        parts = field.split(".")
        for depth, key in enumerate(parts):
            if isinstance(node, list) and key.isdigit():  # list item: "architecture.hidden.0"
                if int(key) >= len(node):
                    raise self.fail(field, "is missing")
                node = node[int(key)]
                continue
            if not isinstance(node, dict):
                raise self.fail(".".join(parts[:depth]), f"must be a JSON object, got {_short(node)}")
            if key not in node:
                if default is not _MISSING:
                    return default
                raise self.fail(field, "is missing")
            node = node[key]
        return node

    def positive_int(self, field: str, default=_MISSING, minimum: int = 1) -> int:
        """An integer ≥ ``minimum`` (booleans and floats refused)."""
        value = self.get(field, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(field, f"must be an integer >= {minimum}, got {_short(value)}")
        return value

    def positive_float(self, field: str, default=_MISSING, unit: str = "") -> float:
        """A finite number > 0 (booleans and strings refused)."""
        value = self.get(field, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise self.fail(field, f"must be a positive finite number{f' ({unit})' if unit else ''}, got {_short(value)}")
        return float(value)

    def fraction(self, field: str, default=_MISSING) -> float:
        """A number in [0, 1)."""
        value = self.get(field, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise self.fail(field, f"must be a number in [0, 1), got {_short(value)}")
        return float(value)

    def boolean(self, field: str, default=_MISSING) -> bool:
        value = self.get(field, default)
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, got {_short(value)}")
        return value

    def choice(self, field: str, options, default=_MISSING):
        value = self.get(field, default)
        if isinstance(value, (dict, list)) or value not in tuple(options):
            raise self.fail(field, f"must be one of {list(options)}, got {_short(value)}")
        return value

    def int_list(self, field: str, minimum: int | None = None, maximum: int | None = None, default=_MISSING) -> list[int]:
        """A non-empty list of integers within [minimum, maximum]."""
        value = self.get(field, default)
        ok = isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if ok and minimum is not None:
            ok = min(value) >= minimum
        if ok and maximum is not None:
            ok = max(value) <= maximum
        if not ok:
            bounds = f" in {minimum}..{maximum}" if minimum is not None and maximum is not None else ""
            raise self.fail(field, f"must be a non-empty list of integers{bounds}, got {_short(value)}")
        return list(value)

    def float_list(self, field: str, length: int | None = None, positive: bool = False, default=_MISSING) -> list[float]:
        """A list of finite numbers (of ``length`` if given; all > 0 with ``positive``)."""
        value = self.get(field, default)
        ok = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
            for v in value)
        if not ok or (length is not None and len(value) != length):
            what = f"{length} " if length is not None else ""
            raise self.fail(field, f"must be a list of {what}{'positive ' if positive else ''}finite numbers, "
                                   f"got {_short(value)}")
        return [float(v) for v in value]

    def string_list(self, field: str, default=_MISSING) -> list[str]:
        value = self.get(field, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(field, f"must be a list of strings, got {_short(value)}")
        return list(value)

    def equal(self, field: str, value, other_field: str, other) -> None:
        """Refuse two header fields that must agree (e.g. ``cutoff`` and ``architecture.cutoff``)."""
        if value != other:
            raise self.fail(field, f"= {_short(value)} conflicts with header field {other_field!r} = {_short(other)}")

    # ----------------------------------------------------------- weights
    def tensor(self, name: str) -> torch.Tensor:
        """The stored tensor ``name``; an error naming it when absent."""
        if name not in self.state:
            raise ModelFileError(f"model file {self.path}: weight {name!r} is missing")
        return self.state[name]

    def dim(self, field: str, value: int, name: str, axis: int, offset: int = 0, factor: int = 1) -> None:
        """Refuse header ``field`` = ``value`` unless ``tensor(name).shape[axis] == factor·value + offset``."""
        tensor = self.tensor(name)
        expected = factor * value + offset
        if tensor.dim() <= axis or tensor.shape[axis] != expected:
            raise self.fail(field, f"= {_short(value)} conflicts with the weights: {name!r} has shape "
                                   f"{list(tensor.shape)} (axis {axis} should be {expected})")

    def count(self, field: str, value: int, prefix: str) -> None:
        """Refuse ``field`` = ``value`` unless the weights hold exactly ``value`` sub-modules ``prefix.<k>.``."""
        found = {name[len(prefix) + 1:].split(".", 1)[0] for name in self.state if name.startswith(prefix + ".")}
        indices = sorted(int(k) for k in found if k.isdigit())
        if indices != list(range(value)):
            raise self.fail(field, f"= {_short(value)} conflicts with the weights: they hold {len(indices)} "
                                   f"{prefix!r} blocks")

    def dtype(self, field: str = "dtype", default=_MISSING) -> torch.dtype:
        """The header dtype ("float32"/"float64"), which must be that of the floating weights."""
        name = self.choice(field, ("float32", "float64"), default)
        dtype = getattr(torch, name)
        for key, tensor in self.state.items():
            if tensor.is_floating_point() and tensor.dtype != dtype:
                raise self.fail(field, f"= {name!r} conflicts with the weights: {key!r} is "
                                       f"{str(tensor.dtype).replace('torch.', '')}")
        return dtype

    def same_shapes(self, build, context: str = "") -> None:
        """Build the module on the meta device (no memory) with ``build()`` and refuse any tensor
        whose name or shape differs from the file's, naming it with both shapes.

        ``context`` (e.g. ``"hidden=32, layers=4"``) names the header values the shapes follow from.
        """
        try:
            with torch.device("meta"):
                module = build()
        except (InputError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"model file {self.path}: the header's architecture is refused ({exc})") from exc
        expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        where = f" ({context})" if context else ""
        missing = sorted(set(expected) - set(self.state))
        extra = sorted(set(self.state) - set(expected))
        if missing or extra:
            raise ModelFileError(f"model file {self.path}: the weights do not fit the header's architecture{where}: "
                                 f"missing {missing[:5]}, unexpected {extra[:5]}")
        for name, shape in expected.items():
            if tuple(self.state[name].shape) != shape:
                raise ModelFileError(
                    f"model file {self.path}: the header's architecture{where} implies weight {name!r} of shape "
                    f"{list(shape)}, the file holds {list(self.state[name].shape)}")


def _short(value, limit: int = 60) -> str:
    """repr of a header value, cut to ``limit`` characters."""
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
