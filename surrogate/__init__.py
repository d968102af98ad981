"""The learned parts: EGNN force models, LSTM large-timestep operators,
training, model files, the ASE calculator and the ``surrogate`` CLI."""

import systems.threads  # noqa: F401  (sets the OpenMP wait policy before torch loads OpenMP)

__version__ = "0.1.0"
