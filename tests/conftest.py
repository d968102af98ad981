"""Suite-wide setup: the OpenMP wait policy before any test imports numba or torch."""

import systems.threads  # noqa: F401
