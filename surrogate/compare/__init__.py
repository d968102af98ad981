"""Compare runs against a classical reference: structure, dynamics,
thermodynamics, cost, distances with tolerances, and a report.

>>> from surrogate.compare import compare_trajectories
>>> result = compare_trajectories("ref/trajectory.extxyz", "egnn/trajectory.extxyz", out_dir="cmp")
>>> result.passed, result.files["html"]
"""

from __future__ import annotations

from systems.lazy_exports import lazy_exports

#: Public name -> the submodule that defines it (imported on first use, PEP 562: the CLI's parser
#: needs only the tolerance names, not the analysis and its plotting).
_EXPORTS = {"compare_trajectories": ".comparison", "ComparisonResult": ".comparison", "RunMetrics": ".comparison",
            "Distance": ".distances", "Tolerances": ".distances", "RunData": ".run_data", "load_run": ".run_data"}

__all__ = ["compare_trajectories", "ComparisonResult", "RunMetrics", "RunData", "load_run", "Tolerances", "Distance"]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
