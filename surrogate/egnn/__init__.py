"""E(n)-equivariant graph networks (Satorras et al. 2021): the layer, the energy model, training and the force provider."""

from .layer import EGNNLayer

__all__ = ["EGNNLayer"]
