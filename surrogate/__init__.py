"""The learned parts: EGNN force models, LSTM large-timestep operators,
training, model files, the ASE calculator and the ``surrogate`` CLI."""

__version__ = "0.1.0"
