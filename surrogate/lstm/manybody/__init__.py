"""Beyond the paper: a permutation-invariant, size-transferable large-stride operator.

The flat LSTM of Kadupitiya et al. reads one vector over a fixed N, so it is
neither permutation-invariant nor usable on another N. Here every atom keeps
its own LSTM state over the window and atoms talk through EGNN message
passing (:class:`surrogate.egnn.layer.EGNNLayer`) on the neighbor graph of the
current positions, so the same weights run on 256 or 2048 atoms:

1. per atom i and window state k (oldest first, current state c = W−1), the
   rotation-invariant scalars |v_k|², v_k·v_c, |x_k − x_c|², (x_k − x_c)·v_c
   (scaled by the data's velocity scale v_s and length scale ℓ = v_s Δ_R)
   go through a per-atom LSTM → h_i;
2. L EGNN layers update h_i with edge attributes [Gaussian radial basis of
   r_ij, (v_j − v_i)·r̂_ij / v_s, |v_j − v_i|² / v_s²] (invariant);
3. equivariant outputs, built only from the atom's own vectors and pair
   vectors with invariant coefficients:
       Δx_i = Δ_R v_i (1 + a_i) + b_i d_i + ℓ · EGNN_x(h)_i
       Δv_i = v_s (c_i v_i/v_s + e_i d_i/ℓ + EGNN_v(h)_i)
   with d_i = x_c − x_{c−1} the last displacement; then the centre-of-mass
   momentum is projected back exactly.

With ``force_input`` (a "force-informed" operator) the window's forces enter
too, as u_k = F_k/m · Δ_R / v_s (dimensionless; F_k/m·Δ_R² in units of ℓ): the
LSTM also reads u_k·u_c, u_k·v_c/v_s, |u_k|², u_k·(x_k − x_c)/ℓ; the edges
also carry (u_j − u_i)·r̂_ij and |u_j − u_i|²; and both outputs gain the
equivariant terms ℓ(f₁ u_c + f₂ (u_c − u_{c−1})) and v_s(g₁ u_c + g₂ (u_c − u_{c−1}))
with invariant per-atom coefficients. At Δ_R = 100 fs in liquid argon the
current force explains most of Δv that the velocity does not (linear least
squares: relative residual of Δv 0.94 → 0.48, of Δx 0.35 → 0.12). The price in a
rollout is one force evaluation per stride instead of the stride's Verlet steps.

Rotating or translating every input rotates or translates the outputs
(equivariance); permuting atoms permutes them.

The package is split by job: :mod:`.model` (the network and its model file),
:mod:`.data` (graphs and training samples), :mod:`.train` (:func:`train_manybody`)
and :mod:`.integrator` (:class:`ManyBodyOperatorIntegrator`).
"""

from .data import _augmented_runs, graph, trajectory_forces, verlet_stride_map
from .integrator import ManyBodyOperatorIntegrator
from .model import (ARCHITECTURE_VERSION, MODEL_KIND, U_MAX, ManyBodyOperator, load_manybody,
                    validate_manybody_header)
from .train import manybody_header, train_manybody

__all__ = ["ManyBodyOperator", "ManyBodyOperatorIntegrator", "graph", "load_manybody", "manybody_header",
           "train_manybody", "trajectory_forces", "validate_manybody_header", "verlet_stride_map",
           "ARCHITECTURE_VERSION", "MODEL_KIND", "U_MAX"]
