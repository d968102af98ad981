"""Compare runs against a classical reference: structure, dynamics,
thermodynamics, cost, distances with tolerances, and a report.

>>> from surrogate.compare import compare_trajectories
>>> result = compare_trajectories("ref/trajectory.extxyz", "egnn/trajectory.extxyz", out_dir="cmp")
>>> result.passed, result.files["html"]
"""

from __future__ import annotations

import importlib

#: Public name -> the submodule that defines it (imported on first use, PEP 562: the CLI's parser
#: needs only the tolerance names, not the analysis and its plotting).
_EXPORTS = {"compare_trajectories": "comparison", "ComparisonResult": "comparison", "RunMetrics": "comparison",
            "Distance": "distances", "Tolerances": "distances", "RunData": "run_data", "load_run": "run_data"}

__all__ = ["compare_trajectories", "ComparisonResult", "RunMetrics", "RunData", "load_run", "Tolerances", "Distance"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'surrogate.compare' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
