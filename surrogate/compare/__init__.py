"""Compare runs against a classical reference: structure, dynamics,
thermodynamics, cost, distances with tolerances, and a report.

>>> from surrogate.compare import compare_trajectories
>>> result = compare_trajectories("ref/trajectory.extxyz", "egnn/trajectory.extxyz", out_dir="cmp")
>>> result.passed, result.files["html"]
"""

from .comparison import ComparisonResult, RunMetrics, compare_trajectories
from .distances import Distance, Tolerances
from .run_data import RunData, load_run

__all__ = ["compare_trajectories", "ComparisonResult", "RunMetrics", "RunData", "load_run", "Tolerances", "Distance"]
