"""Where the project's real test trajectories live (alanine dipeptide from the MDTraj project).

The ``shared/`` folder sits beside the repository (CI copies it there); the
environment variable SURROGATE_TEST_DATA overrides. Tests that need the files
skip, naming this module, when none of these places has them.
"""

import os
from pathlib import Path

_CANDIDATES = [
    os.environ.get("SURROGATE_TEST_DATA"),
    Path(__file__).resolve().parents[2] / "shared" / "data",
    "/work/shared/data",
]


def shared_data_dir() -> Path:
    """The first folder that holds ``frame0.xtc`` (or the beside-the-repo path if none does)."""
    for candidate in _CANDIDATES:
        if candidate and (Path(candidate) / "frame0.xtc").exists():
            return Path(candidate)
    return Path(_CANDIDATES[1])


DATA = shared_data_dir()
