"""The direct-prediction EGNN of the N-body experiment (Satorras et al. 2021, §3.2 and §5.1).

Input: positions x [b, n, 3], velocities v [b, n, 3] and charges q [b, n] of one frame.
Output: the predicted positions [b, n, 3] some time later.

As in the authors' N-body model (``EGNN_vel``):

* node features h⁰_i = W ‖v_i‖ (an invariant of the velocity);
* a fully connected graph without self-loops; edge attributes
  a_ij = [q_i q_j, ‖x⁰_i − x⁰_j‖²/ℓ²] (the initial squared distance rides along;
  ℓ = ``length_scale`` keeps squared distances O(1) here and inside the layer);
* each of the L layers (:class:`~surrogate.egnn.layer.EGNNLayer`, coordinate
  mean C = 1/(n − 1)) does

      x_i ← x_i + C Σ_j (x_i − x_j) φ_x(m_ij) + φ_v(h_i) v_i       (paper eq. 7)
      h_i ← h_i + φ_h(h_i, Σ_j m_ij)

  where φ_v is a 2-layer SiLU MLP of the layer's input features and v is the
  input velocity (the same in every layer);
* the prediction is the final x.

The output transforms like the input positions: rotations and reflections act on
x and v, translations on x only, permutations on the particles (tests check this).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from surrogate.egnn.layer import EGNNLayer
from surrogate.model_file import HeaderCheck, load_model_file, save_model_file
from systems.errors import InputError

MODEL_KIND = "egnn_nbody"


def fully_connected_edges(n_graphs: int, n_nodes: int, device=None) -> Tensor:
    """int64 [2, n_graphs·n·(n−1)] edge index of ``n_graphs`` complete graphs of ``n_nodes`` (no self-loops).

    Row 0 is the receiver i, row 1 the sender j (the EGNNLayer convention); node
    ``g·n + k`` is particle k of graph g.
    """
    local = torch.ones(n_nodes, n_nodes, dtype=torch.bool, device=device)
    local.fill_diagonal_(False)
    receivers, senders = local.nonzero(as_tuple=True)  # [n(n-1)]
    offsets = torch.arange(n_graphs, device=device).repeat_interleave(receivers.numel()) * n_nodes
    return torch.stack([receivers.repeat(n_graphs) + offsets, senders.repeat(n_graphs) + offsets])


class NBodyEGNN(nn.Module):
    """Direct-prediction EGNN for the charged N-body task.

    Parameters
    ----------
    hidden : int
        Feature width (paper: 64).
    n_layers : int
        Number of EGNN layers (paper: 4).
    tanh_coords : bool
        Bound φ_x with a tanh (the guard of the energy model; off in the paper's N-body model).
    length_scale : float
        Squared distances enter φ_e as ‖r‖²/length_scale² (the layer's radial input and the
        initial-distance edge attribute alike). The paper feeds raw squared distances (1.0).
    coord_mlp : bool
        Make φ_x a 2-layer SiLU MLP ending in a bias-free linear map initialised near
        zero (gain 0.001), as in the authors' code, instead of the layer's single linear map.
    radial_filter : bool
        Keep EGNNLayer's multiplicative radial filter in φ_e. The paper's φ_e has none,
        and the filter is linear in the (unbounded, free-space) squared distances, so by
        default it is fixed to 1 here (see :class:`UnitRadialFilter`). On an H100, 4.5 to
        5.5 min of training reached test MSE 0.0079 without the filter and 0.011 with it
        (length_scale 5); one run each.
    """

    def __init__(self, hidden: int = 64, n_layers: int = 4, tanh_coords: bool = False, coord_mlp: bool = False,
                 length_scale: float = 1.0, radial_filter: bool = False):
        super().__init__()
        if hidden < 1 or n_layers < 1:
            raise InputError(f"NBodyEGNN: `hidden` and `n_layers` must be positive, got {hidden}, {n_layers}")
        self.hidden = hidden
        self.n_layers = n_layers
        self.tanh_coords = tanh_coords
        self.coord_mlp = coord_mlp
        if not length_scale > 0:
            raise InputError(f"NBodyEGNN: `length_scale` must be positive, got {length_scale!r}")
        self.length_scale = float(length_scale)
        self.radial_filter = radial_filter
        self.embedding = nn.Linear(1, hidden)
        self.layers = nn.ModuleList(
            EGNNLayer(hidden, edge_attr_dim=2, update_coords=True, coord_aggr="mean", tanh_coords=tanh_coords,
                      length_scale=length_scale)
            for _ in range(n_layers)
        )
        if not radial_filter:
            for layer in self.layers:
                layer.edge_filter = UnitRadialFilter.replacing(layer)
        if coord_mlp:
            for layer in self.layers:
                # EGNNLayer applies coord_out to the per-edge features s_ij [E, F] -> φ_x [E, 1].
                layer.coord_out = _reference_coord_mlp(hidden)
        self.velocity_scales = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1)) for _ in range(n_layers)
        )
        self._edge_cache: dict = {}

    def architecture(self) -> dict:
        """The constructor arguments (stored in model files)."""
        return {"hidden": self.hidden, "n_layers": self.n_layers, "tanh_coords": self.tanh_coords,
                "coord_mlp": self.coord_mlp, "length_scale": self.length_scale, "radial_filter": self.radial_filter}

    def _edges(self, n_graphs: int, n_nodes: int, device) -> Tensor:
        key = (n_graphs, n_nodes, str(device))
        if key not in self._edge_cache:
            if len(self._edge_cache) > 8:
                self._edge_cache.clear()
            self._edge_cache[key] = fully_connected_edges(n_graphs, n_nodes, device)
        return self._edge_cache[key]

    def forward(self, positions: Tensor, velocities: Tensor, charges: Tensor) -> Tensor:
        """Predict positions [b, n, 3] from positions, velocities [b, n, 3] and charges [b, n]."""
        if positions.dim() != 3 or positions.shape[-1] != 3 or velocities.shape != positions.shape:
            raise InputError(
                f"NBodyEGNN: positions and velocities must both be [batch, n, 3], got "
                f"{tuple(positions.shape)} and {tuple(velocities.shape)}"
            )
        if charges.shape != positions.shape[:2]:
            raise InputError(f"NBodyEGNN: charges must be [batch, n] = {tuple(positions.shape[:2])}, got {tuple(charges.shape)}")
        b, n, _ = positions.shape
        x = positions.reshape(b * n, 3)  # [N, 3]
        v = velocities.reshape(b * n, 3)  # [N, 3]
        q = charges.reshape(b * n)  # [N]
        edge_index = self._edges(b, n, positions.device)  # [2, E]
        i, j = edge_index
        x0_ij = x[j] - x[i]  # [E, 3]
        edge_attr = torch.stack([q[i] * q[j], (x0_ij * x0_ij).sum(-1) / self.length_scale**2], dim=-1)  # [E, 2]
        h = self.embedding(torch.linalg.vector_norm(v, dim=-1, keepdim=True))  # [N, F]
        for layer, velocity_scale in zip(self.layers, self.velocity_scales):
            h_new, dx = layer(h, edge_index, x[j] - x[i], edge_attr)  # [N, F], [N, 3]
            x = x + dx + velocity_scale(h) * v
            h = h_new
        return x.reshape(b, n, 3)


class UnitRadialFilter(nn.Module):
    """Stands in for EGNNLayer's radial filter, fixing it to 1: the paper's φ_e.

    EGNNLayer computes ``filt = edge_filter([w g, w])`` [E, F] (g the invariant edge
    input, w the envelope) and ``w s_ij = SiLU(W_a h_i + W_b h_j + W_r g) * filt``;
    this module returns w broadcast to [E, F], so that w s_ij = w SiLU(...) exactly.
    """

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden

    @classmethod
    def replacing(cls, layer: EGNNLayer) -> "UnitRadialFilter":
        """A replacement for ``layer.edge_filter``; refuses a layer whose internals no longer match."""
        original = getattr(layer, "edge_filter", None)
        if not (isinstance(original, nn.Linear) and original.out_features == layer.hidden
                and original.in_features == 2 + layer.edge_attr_dim):
            raise RuntimeError(
                "EGNNLayer.edge_filter is no longer a Linear(2 + A, F) on [w g, w]; "
                "NBodyEGNN(radial_filter=False) must be updated to the layer's new structure"
            )
        return cls(layer.hidden)

    def forward(self, filter_input: Tensor) -> Tensor:
        return filter_input[:, -1:].expand(-1, self.hidden)  # [E, F]: the envelope w


def _reference_coord_mlp(hidden: int) -> nn.Sequential:
    """φ_x of the authors' code: Linear, SiLU, bias-free Linear with xavier gain 0.001."""
    last = nn.Linear(hidden, 1, bias=False)
    nn.init.xavier_uniform_(last.weight, gain=0.001)
    return nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), last)


def nbody_mse_loss(model: nn.Module, batch) -> tuple[Tensor, dict[str, float]]:
    """Trainer loss: mean squared position error over particles and coordinates (the paper's metric)."""
    positions, velocities, charges, targets = batch
    predicted = model(positions, velocities, charges)
    loss = ((predicted - targets) ** 2).mean()
    return loss, {}


def save_nbody_model(model: NBodyEGNN, path, **extra) -> None:
    """Write a ``kind="egnn_nbody"`` model file (architecture, dtype, plus ``extra`` header fields)."""
    dtype = next(model.parameters()).dtype
    header = {"kind": MODEL_KIND, "architecture": model.architecture(), "dtype": str(dtype).removeprefix("torch."),
              "units": "reduced (unit mass, charge and time)", **extra}
    save_model_file(path, model.state_dict(), header)


def load_nbody_model(path, map_location="cpu") -> tuple[NBodyEGNN, dict]:
    """Rebuild an :class:`NBodyEGNN` from a model file; returns (model, header).

    The content hash is checked and the header validated field by field against the
    weights (:func:`validate_nbody_header`) before the module is built.
    """
    header, state = load_model_file(path, expected_kind=MODEL_KIND, map_location=map_location)
    args, dtype = validate_nbody_header(path, header, state)
    model = NBodyEGNN(**args)
    model.to(dtype)
    model.load_state_dict(state)
    return model, header


def validate_nbody_header(path, header: dict, state: dict) -> tuple[dict, torch.dtype]:
    """Check an n-body header against its weights; return (constructor arguments, dtype).

    hidden and n_layers positive integers (against the embedding width and the layer
    blocks), length_scale a positive finite number, the three switches booleans, dtype that
    of the weights; then all shapes against a module built on the meta device.
    """
    check = HeaderCheck(path, header, state)
    check.get("architecture")
    args = {"hidden": check.positive_int("architecture.hidden"),
            "n_layers": check.positive_int("architecture.n_layers"),
            "tanh_coords": check.boolean("architecture.tanh_coords", False),
            "coord_mlp": check.boolean("architecture.coord_mlp", False),
            "length_scale": check.positive_float("architecture.length_scale", 1.0),
            "radial_filter": check.boolean("architecture.radial_filter", False)}
    extra = sorted(set(check.get("architecture")) - set(args))
    if extra:
        raise check.fail("architecture", f"has unknown fields {extra}")
    dtype = check.dtype("dtype", "float32")
    check.dim("architecture.hidden", args["hidden"], "embedding.weight", 0)
    check.count("architecture.n_layers", args["n_layers"], "layers")
    check.count("architecture.n_layers", args["n_layers"], "velocity_scales")
    check.same_shapes(lambda: NBodyEGNN(**args), f"hidden={args['hidden']}, n_layers={args['n_layers']}")
    return args, dtype
