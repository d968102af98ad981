"""LSTM large-timestep operators (Kadupitiya, Fox, Jadhao 2020) that stand in for the integrator."""

from .data import OperatorData, generate_lj_data, generate_oscillator_data, load_operator_data, make_windows, \
    save_operator_data
from .integrator import EnergyCorrectionError, LSTMOperatorIntegrator, OperatorInstabilityError, StabilityGuard, \
    rollout
from .fused_rollout import fused_rollout
from .model import LSTMOperator
from .train import ModelMismatchError, check_compatible, load_lstm, train_lstm

__all__ = ["OperatorData", "generate_oscillator_data", "generate_lj_data", "make_windows", "save_operator_data",
           "load_operator_data", "LSTMOperator", "train_lstm", "load_lstm", "check_compatible", "ModelMismatchError",
           "LSTMOperatorIntegrator", "StabilityGuard", "OperatorInstabilityError", "EnergyCorrectionError", "rollout", "fused_rollout"]
