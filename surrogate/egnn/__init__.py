"""E(n)-equivariant graph networks (Satorras et al. 2021): the layer, the energy model, training and the force provider."""

from .committee import is_committee_file, load_committee, save_committee
from .committee_train import train_committee
from .layer import EGNNLayer
from .model import EGNNEnergyModel
from .provider import EGNNForceProvider
from .train import load_egnn, save_egnn, train_egnn

__all__ = ["EGNNLayer", "EGNNEnergyModel", "EGNNForceProvider", "train_egnn", "load_egnn", "save_egnn",
           "train_committee", "save_committee", "load_committee", "is_committee_file"]
