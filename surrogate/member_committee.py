"""Opening a committee for the fallback and active learning: a committee file (``surrogate train egnn
--committee K``), a folder of EGNN member files, or a comma-separated list of them; all become one
:class:`~surrogate.egnn.provider.EGNNForceProvider` over the members (mean forces, ``ForceResult.uncertainty``).
"""

from __future__ import annotations

import os
from pathlib import Path

from systems.errors import InputError


def committee_paths(spec) -> list[Path]:
    """Model files of ``spec``: a list of paths, a folder (its ``*.pt`` files, sorted, or ``member*/best.pt``),
    or a comma-separated string of files (one committee file, or EGNN member files)."""
    if isinstance(spec, (list, tuple)):
        paths = [Path(p) for p in spec]
    else:
        text = os.fspath(spec)
        if os.path.isdir(text):
            folder = Path(text)
            paths = sorted(folder.glob("*.pt")) or sorted(folder.glob("member*/best.pt"))
        else:
            paths = [Path(p) for p in text.split(",") if p]
    if not paths:
        raise InputError(f"committee {spec}: no model files")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"committee {spec}: no model file {missing[0]}")
    return paths


def load_members(spec, device="cpu", dtype=None) -> list:
    """The EGNN members (EGNNEnergyModel, freshly loaded) of ``spec`` (see :func:`committee_paths`); at least two."""
    from .egnn.committee import load_models

    models = []
    for path in committee_paths(spec):
        models.extend(load_models(path, device=device, dtype=dtype)[0])
    if len(models) < 2:
        raise InputError(f"{spec}: a committee needs at least 2 members, found {len(models)} (train one with "
                         "surrogate train egnn --committee K)")
    return models


def committee_provider(spec, device="cpu", dtype=None):
    """An EGNNForceProvider over the members of ``spec``: mean energy and forces, with the spread."""
    from .egnn.provider import EGNNForceProvider

    provider = EGNNForceProvider(load_members(spec, device, dtype), device=device, dtype=dtype)
    provider.name = f"EGNN committee of {len(provider.models)} ({spec if not isinstance(spec, (list, tuple)) else spec[0]})"
    return provider
