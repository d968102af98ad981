"""The learned parts: EGNN force models, LSTM large-timestep operators,
training, model files, the ASE calculator and the ``surrogate`` CLI.

>>> from surrogate import SurrogateCalculator, load_egnn, load_lstm

The names below are imported on first use (module ``__getattr__``), so
``import surrogate`` alone does not import torch.
"""

from __future__ import annotations

from systems.lazy_exports import lazy_exports
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("surrogate-md")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "unknown"

#: public name -> the module that defines it
_EXPORTS = {
    "SurrogateCalculator": "surrogate.calculator",
    "EGNNForceProvider": "surrogate.egnn.provider",
    "load_egnn": "surrogate.egnn.train",
    "load_lstm": "surrogate.lstm.train",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
