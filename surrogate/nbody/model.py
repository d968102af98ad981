"""The direct-prediction EGNN of the N-body experiment (Satorras et al. 2021, §3.2 and §5.1), dense.

Input: positions x [b, n, 3], velocities v [b, n, 3] and charges q [b, n] of one frame.
Output: the predicted positions [b, n, 3] some time later.

It is the authors' N-body model (``EGNN_vel`` of vgsatorras/egnn, built there with
``recurrent=True, coords_weight=1, norm_diff=False, tanh=False, attention=False``):

* node features h⁰_i = W ‖v_i‖ + b (an invariant of the velocity);
* a fully connected graph without self-loops; edge attributes
  a_ij = [q_i q_j, ‖x⁰_i − x⁰_j‖²/ℓ²] (the input frame's squared distance rides along;
  ℓ = ``length_scale``, 1 in the paper);
* each of the L layers (:class:`NBodyEGNNLayer`, the reference ``E_GCL_vel``) does

      m_ij = φ_e(h_i, h_j, ‖x_i − x_j‖²/ℓ², a_ij)                   (paper eq. 3)
      x_i ← x_i + 1/(n−1) Σ_j (x_i − x_j) φ_x(m_ij) + φ_v(h_i) v_i   (paper eq. 7)
      h_i ← h_i + φ_h(h_i, Σ_j m_ij)                                 (eqs. 5-6, summed messages)

  with φ_e = Linear → SiLU → Linear → SiLU, φ_h = Linear → SiLU → Linear,
  φ_x = Linear → SiLU → bias-free Linear (Xavier gain 0.001; one bias-free Linear
  when ``coord_mlp`` is False), φ_v = Linear → SiLU → Linear, and v the input
  velocity in every layer;
* the prediction is the final x.

Dense batched form: every graph is complete, so the edges of a batch are the tensor
[b, n, n−1, ·] (for particle i its n − 1 neighbours, gathered with one index), sums
over j are sums over axis 2, and there is no edge list, scatter or collation. φ_e's
first matrix is applied per node where it acts on h_i or h_j (n·F² instead of
n²·F² work). The parameters and their names are those of the reference layer, whose
per-edge formulation the tests compare against.

Left out from the reference: its ``torch.clamp(trans, ±100)`` of each coordinate
component ("never activated" per its authors), which would break rotation equivariance.

The output transforms like the input positions: rotations and reflections act on
x and v, translations on x only, permutations on the particles (tests check this).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from surrogate.model_file import HeaderCheck, load_model_file, save_model_file
from systems.errors import InputError

MODEL_KIND = "egnn_nbody"
ARCHITECTURE_VERSION = 2
"""Version 2: the dense reference layer (2-layer φ_e, summed messages). Version-1 files
(EGNNLayer with a radial filter) are refused by name."""


def neighbour_index(n_nodes: int, device=None) -> Tensor:
    """int64 [n, n−1]: row i lists the particles j ≠ i in increasing order."""
    if n_nodes < 2:
        raise InputError(f"neighbour_index: a complete graph needs at least 2 particles, got {n_nodes}")
    everyone = torch.arange(n_nodes, device=device).expand(n_nodes, n_nodes)  # [n, n]
    keep = ~torch.eye(n_nodes, dtype=torch.bool, device=device)
    return everyone[keep].reshape(n_nodes, n_nodes - 1)


class NBodyEGNNLayer(nn.Module):
    """One reference ``E_GCL_vel`` layer on dense complete graphs (see the module docstring).

    Parameters
    ----------
    hidden : int
        Feature width F of h and of the messages m_ij.
    edge_attr_dim : int
        Width A of the edge attributes a_ij.
    coord_mlp : bool
        φ_x as the reference's Linear → SiLU → bias-free Linear (True) or one bias-free Linear.
    tanh_coords : bool
        Bound φ_x with a tanh (the reference's ``tanh`` option; off for the paper's N-body run).
    """

    def __init__(self, hidden: int, edge_attr_dim: int = 2, coord_mlp: bool = True, tanh_coords: bool = False):
        super().__init__()
        self.hidden = hidden
        self.edge_attr_dim = edge_attr_dim
        self.tanh_coords = tanh_coords
        self.edge_mlp = nn.Sequential(nn.Linear(2 * hidden + 1 + edge_attr_dim, hidden), nn.SiLU(),
                                      nn.Linear(hidden, hidden), nn.SiLU())
        self.node_mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        last = nn.Linear(hidden, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)
        self.coord_mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), last) if coord_mlp else last
        self.coord_mlp_vel = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, h: Tensor, x: Tensor, v: Tensor, edge_attr: Tensor, nbr: Tensor,
                inv_length2: float = 1.0, update_h: bool = True) -> tuple[Tensor, Tensor]:
        """h [b, n, F], x and v [b, n, 3], edge_attr [b, n, n−1, A], nbr [n, n−1] → (h, x) updated.

        ``update_h=False`` returns h unchanged (for the last layer, whose features no output uses).
        """
        f = self.hidden
        first = self.edge_mlp[0]
        w = first.weight  # [F, 2F + 1 + A], columns for [h_i, h_j, ‖r‖², a_ij]
        diff = x.unsqueeze(2) - x[:, nbr]  # [b, n, n-1, 3]: x_i − x_j
        radial = (diff * diff).sum(-1, keepdim=True) * inv_length2  # [b, n, n-1, 1]
        h_i = nn.functional.linear(h, w[:, :f], first.bias)  # [b, n, F]
        h_j = nn.functional.linear(h, w[:, f:2 * f])  # [b, n, F]
        geometry = nn.functional.linear(torch.cat([radial, edge_attr], dim=-1), w[:, 2 * f:])  # [b, n, n-1, F]
        pre = h_i.unsqueeze(2) + h_j[:, nbr] + geometry  # [b, n, n-1, F]
        m = self.edge_mlp[3](self.edge_mlp[2](self.edge_mlp[1](pre)))  # [b, n, n-1, F]: m_ij
        phi = self.coord_mlp(m)  # [b, n, n-1, 1]
        if self.tanh_coords:
            phi = torch.tanh(phi)
        x_new = x + (diff * phi).mean(dim=2) + self.coord_mlp_vel(h) * v  # [b, n, 3]
        if not update_h:
            return h, x_new
        h_new = h + self.node_mlp(torch.cat([h, m.sum(dim=2)], dim=-1))  # [b, n, F]
        return h_new, x_new


class NBodyEGNN(nn.Module):
    """Direct-prediction EGNN for the charged N-body task (the reference ``EGNN_vel``, dense).

    Parameters
    ----------
    hidden : int
        Feature width (paper: 64).
    n_layers : int
        Number of EGNN layers (paper: 4).
    coord_mlp : bool
        φ_x as the reference's 2-layer MLP (default) or one bias-free linear map.
    tanh_coords : bool
        Bound φ_x with a tanh (off in the paper's N-body model).
    length_scale : float
        Squared distances (the layers' radial input and the initial-distance edge
        attribute alike) enter as ‖r‖²/length_scale². The paper feeds raw squared distances (1.0).
    """

    def __init__(self, hidden: int = 64, n_layers: int = 4, coord_mlp: bool = True, tanh_coords: bool = False,
                 length_scale: float = 1.0):
        super().__init__()
        if hidden < 1 or n_layers < 1:
            raise InputError(f"NBodyEGNN: `hidden` and `n_layers` must be positive, got {hidden}, {n_layers}")
        if not length_scale > 0:
            raise InputError(f"NBodyEGNN: `length_scale` must be positive, got {length_scale!r}")
        self.hidden = hidden
        self.n_layers = n_layers
        self.coord_mlp = coord_mlp
        self.tanh_coords = tanh_coords
        self.length_scale = float(length_scale)
        self.embedding = nn.Linear(1, hidden)
        self.layers = nn.ModuleList(NBodyEGNNLayer(hidden, 2, coord_mlp, tanh_coords) for _ in range(n_layers))
        self._nbr_cache: dict = {}

    def architecture(self) -> dict:
        """The constructor arguments (stored in model files)."""
        return {"hidden": self.hidden, "n_layers": self.n_layers, "coord_mlp": self.coord_mlp,
                "tanh_coords": self.tanh_coords, "length_scale": self.length_scale}

    def _neighbours(self, n_nodes: int, device) -> Tensor:
        key = (n_nodes, str(device))
        if key not in self._nbr_cache:
            self._nbr_cache[key] = neighbour_index(n_nodes, device)
        return self._nbr_cache[key]

    def forward(self, positions: Tensor, velocities: Tensor, charges: Tensor) -> Tensor:
        """Predict positions [b, n, 3] from positions, velocities [b, n, 3] and charges [b, n]."""
        if positions.dim() != 3 or positions.shape[-1] != 3 or velocities.shape != positions.shape:
            raise InputError(
                f"NBodyEGNN: positions and velocities must both be [batch, n, 3], got "
                f"{tuple(positions.shape)} and {tuple(velocities.shape)}"
            )
        if charges.shape != positions.shape[:2]:
            raise InputError(f"NBodyEGNN: charges must be [batch, n] = {tuple(positions.shape[:2])}, got {tuple(charges.shape)}")
        nbr = self._neighbours(positions.shape[1], positions.device)  # [n, n-1]
        inv_length2 = 1.0 / self.length_scale**2
        x = positions
        diff0 = x.unsqueeze(2) - x[:, nbr]  # [b, n, n-1, 3]
        qq = charges.unsqueeze(2) * charges[:, nbr]  # [b, n, n-1]
        edge_attr = torch.stack([qq, (diff0 * diff0).sum(-1) * inv_length2], dim=-1)  # [b, n, n-1, 2]
        h = self.embedding(torch.linalg.vector_norm(velocities, dim=-1, keepdim=True))  # [b, n, F]
        for k, layer in enumerate(self.layers):
            # The last layer's feature update feeds nothing (the output is x): skipped.
            h, x = layer(h, x, velocities, edge_attr, nbr, inv_length2, update_h=k < self.n_layers - 1)
        return x


def nbody_mse_loss(model: nn.Module, batch) -> tuple[Tensor, dict[str, float]]:
    """Trainer loss: mean squared position error over particles and coordinates (the paper's metric)."""
    positions, velocities, charges, targets = batch
    predicted = model(positions, velocities, charges)
    loss = ((predicted - targets) ** 2).mean()
    return loss, {}


def save_nbody_model(model: NBodyEGNN, path, **extra) -> None:
    """Write a ``kind="egnn_nbody"`` model file (architecture, dtype, plus ``extra`` header fields)."""
    dtype = next(model.parameters()).dtype
    header = {"kind": MODEL_KIND, "architecture_version": ARCHITECTURE_VERSION, "architecture": model.architecture(),
              "dtype": str(dtype).removeprefix("torch."), "units": "reduced (unit mass, charge and time)", **extra}
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

    architecture_version 2; hidden and n_layers positive integers (against the embedding
    width and the layer blocks), length_scale a positive finite number, the two switches
    booleans, dtype that of the weights; then all shapes against a module built on the meta device.
    """
    check = HeaderCheck(path, header, state)
    check.architecture_version(ARCHITECTURE_VERSION, "N-body EGNN")
    check.get("architecture")
    args = {"hidden": check.positive_int("architecture.hidden"),
            "n_layers": check.positive_int("architecture.n_layers"),
            "coord_mlp": check.boolean("architecture.coord_mlp", True),
            "tanh_coords": check.boolean("architecture.tanh_coords", False),
            "length_scale": check.positive_float("architecture.length_scale", 1.0)}
    extra = sorted(set(check.get("architecture")) - set(args))
    if extra:
        raise check.fail("architecture", f"has unknown fields {extra}")
    dtype = check.dtype("dtype", "float32")
    check.dim("architecture.hidden", args["hidden"], "embedding.weight", 0)
    check.count("architecture.n_layers", args["n_layers"], "layers")
    check.same_shapes(lambda: NBodyEGNN(**args), f"hidden={args['hidden']}, n_layers={args['n_layers']}")
    return args, dtype
