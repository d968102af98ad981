"""LSTM large-timestep operators (Kadupitiya, Fox, Jadhao 2020) that stand in for the integrator.

The public face: make training data, train or load an operator, and run it as an
integrator (or as a bare rollout). Internals (window slicing, header checks,
model-file helpers, the many-body operator) live in the submodules.
"""

from .data import OperatorData, generate_lj_data, generate_oscillator_data, load_operator_data, save_operator_data
from .fused_rollout import fused_rollout
from .integrator import LSTMOperatorIntegrator, OperatorInstabilityError, StabilityGuard, rollout
from .model import LSTMOperator
from .train import load_lstm, train_lstm

__all__ = ["OperatorData", "generate_oscillator_data", "generate_lj_data", "save_operator_data", "load_operator_data",
           "LSTMOperator", "train_lstm", "load_lstm", "LSTMOperatorIntegrator", "StabilityGuard",
           "OperatorInstabilityError", "rollout", "fused_rollout"]
