"""Public names of a package imported on first use (PEP 562), written once for every package.

``systems``, ``integrators``, ``surrogate`` and ``surrogate.compare`` list their
public names here so that importing one light module of them (the CLI's parser,
``systems.errors``) does not pull in Numba, torch, ASE or MDTraj.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping, Optional


def lazy_exports(package: str, exports: Mapping[str, Optional[str]]) -> tuple[Callable, Callable]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    exports : public name -> the module that defines it, relative (``".checkpoint"``) or absolute
        (``"surrogate.calculator"``); None when the name is itself a submodule (``systems.units``).
    A name is imported once, then stored in the package so later look-ups skip ``__getattr__``.
    """

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = exports[name]
        value = importlib.import_module(f".{name}" if module is None else module, package)
        if module is not None:
            value = getattr(value, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
