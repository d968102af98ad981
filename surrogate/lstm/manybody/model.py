"""The many-body operator network (:class:`ManyBodyOperator`) and its model file.

The architecture is described in :mod:`surrogate.lstm.manybody`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from surrogate.egnn.layer import EGNNLayer
from surrogate.model_file import HeaderCheck, load_model_file
from systems.errors import InputError

MODEL_KIND = "lstm_manybody"
#: Soft bound on the dimensionless force inputs u = F/m · Δ_R / v_s of a force_input operator.
U_MAX = 5.0
ARCHITECTURE_VERSION = 1


class ManyBodyOperator(nn.Module):
    """Per-atom LSTM over the window + EGNN interactions → equivariant Δx, Δv.

    Parameters
    ----------
    cutoff : float, Å (graph of the current positions)
    stride : float, ASE time (Δ_R)
    velocity_scale : float, Å/ASE time (v_s; e.g. √(k_B T/m))
    window, hidden, layers, n_rbf : architecture
    dtype : torch.dtype
    """

    def __init__(self, cutoff: float, stride: float, velocity_scale: float, window: int = 5, hidden: int = 32,
                 layers: int = 2, n_rbf: int = 12, dtype=torch.float32, force_input: bool = False):
        super().__init__()
        self.cutoff, self.stride, self.window = float(cutoff), float(stride), int(window)
        self.hidden, self.layers, self.n_rbf = int(hidden), int(layers), int(n_rbf)
        self.force_input = bool(force_input)
        self.register_buffer("v_scale", torch.tensor(float(velocity_scale), dtype=dtype))
        self.register_buffer("centers", torch.linspace(0.0, cutoff, n_rbf, dtype=dtype))
        # force_input adds u_k·u_c, u_k·v_c/v_s, |u_k|², u_k·(x_k − x_c)/ℓ per window state
        self.lstm = nn.LSTM(8 if self.force_input else 4, hidden, batch_first=True, dtype=dtype)
        # force_input adds (u_j − u_i)·r̂_ij and |u_j − u_i|² per edge
        edge_dim = n_rbf + (4 if self.force_input else 2)
        self.interactions = nn.ModuleList(
            [EGNNLayer(hidden, edge_dim, update_coords=False, aggr_norm=20.0).to(dtype) for _ in range(layers)])
        self.head_x = EGNNLayer(hidden, edge_dim, update_coords=True, coord_aggr="mean").to(dtype)
        self.head_v = EGNNLayer(hidden, edge_dim, update_coords=True, coord_aggr="mean").to(dtype)
        # force_input adds coefficients of u_c and u_c − u_{c−1} for Δx and for Δv
        n_coef = 8 if self.force_input else 4
        self.scalars = nn.Sequential(nn.Linear(hidden, hidden, dtype=dtype), nn.SiLU(),
                                     nn.Linear(hidden, n_coef, dtype=dtype))
        nn.init.zeros_(self.scalars[-1].weight)
        nn.init.zeros_(self.scalars[-1].bias)

    @property
    def length_scale(self) -> torch.Tensor:
        return self.v_scale * self.stride

    def forward(self, x_window, v_window, edge_index, edge_vec, forces=None, masses=None):
        """Increments (Δx [n,3] Å, Δv [n,3] Å/time) from windows [n, W, 3] and the current graph.

        edge_index : int64 [2, E] (row 0 receiver i, row 1 sender j); edge_vec : [E, 3] r_ij of the current state.
        forces : [n, W, 3] eV/Å at the window states and masses : [n] amu, required with ``force_input``
        (ignored otherwise); they enter as u_k = F_k/m · Δ_R / v_s (= F/m · Δ_R² / ℓ, dimensionless).
        """
        vs, ell = self.v_scale, self.length_scale
        xc, vc = x_window[:, -1], v_window[:, -1]  # [n, 3]
        rel = (x_window - xc[:, None]) / ell  # [n, W, 3]
        vw = v_window / vs
        vcs = (vc / vs)[:, None]  # [n, 1, 3]
        feats = [(vw * vw).sum(-1), (vw * vcs).sum(-1), (rel * rel).sum(-1), (rel * vcs).sum(-1)]
        if self.force_input:
            if forces is None or masses is None:
                raise InputError("ManyBodyOperator(force_input=True) needs the window's forces and the masses")
            u = forces / masses[:, None, None] * (self.stride / vs)  # [n, W, 3]
            # Soft bound |u| < U_MAX (identity for |u| ≪ U_MAX; liquid argon at 100 fs has rms |u| ≈ 1.3): an
            # overlap in a rollout (forces 100× the liquid's) must not become a 100× displacement.
            u = u / torch.sqrt(1.0 + (u * u).sum(-1, keepdim=True) / U_MAX**2)
            uc = u[:, -1]
            feats += [(u * uc[:, None]).sum(-1), (u * vcs).sum(-1), (u * u).sum(-1), (u * rel).sum(-1)]
        seq = torch.stack(feats, dim=-1)  # [n, W, 4 or 8]
        _, (h, _) = self.lstm(seq)
        h = h[-1]  # [n, H]
        i, j = edge_index
        dist = torch.sqrt((edge_vec * edge_vec).sum(-1) + 1e-12)  # [E]
        width = self.cutoff / self.n_rbf
        rbf = torch.exp(-((dist[:, None] - self.centers) / width) ** 2)  # [E, K]
        dv = (vc[j] - vc[i]) / vs
        edge_feats = [rbf, ((dv * edge_vec).sum(-1) / dist)[:, None], (dv * dv).sum(-1, keepdim=True)]
        if self.force_input:
            du = uc[j] - uc[i]
            edge_feats += [((du * edge_vec).sum(-1) / dist)[:, None], (du * du).sum(-1, keepdim=True)]
        edge_attr = torch.cat(edge_feats, -1)
        envelope = 0.5 * (torch.cos(math.pi * dist / self.cutoff) + 1.0) * (dist < self.cutoff)
        for layer in self.interactions:
            h, _ = layer(h, edge_index, edge_vec, edge_attr, envelope)
        _, dx_graph = self.head_x(h, edge_index, edge_vec, edge_attr, envelope)
        _, dv_graph = self.head_v(h, edge_index, edge_vec, edge_attr, envelope)
        coef = self.scalars(h)  # [n, 4 or 8]
        a, b, c, e = coef[:, :4].unbind(-1)  # [n] each
        d = (xc - x_window[:, -2]) / ell  # [n, 3]
        delta_x = self.stride * vc * (1.0 + a[:, None]) + ell * (b[:, None] * d + dx_graph)
        delta_v = vs * (c[:, None] * vc / vs + e[:, None] * d + dv_graph)
        if self.force_input:
            # Invariant coefficients on the atom's own force vectors keep Δx, Δv equivariant.
            fx1, fx2, fv1, fv2 = coef[:, 4:].unbind(-1)
            du_c = uc - u[:, -2]
            delta_x = delta_x + ell * (fx1[:, None] * uc + fx2[:, None] * du_c)
            delta_v = delta_v + vs * (fv1[:, None] * uc + fv2[:, None] * du_c)
        return delta_x, delta_v

    def architecture(self) -> dict:
        return {"cutoff": self.cutoff, "stride": self.stride, "velocity_scale": float(self.v_scale),
                "window": self.window, "hidden": self.hidden, "layers": self.layers, "n_rbf": self.n_rbf,
                "force_input": self.force_input}


def load_manybody(path, device="cpu") -> tuple[ManyBodyOperator, dict]:
    """``(model in eval mode, header)`` from a many-body model file (content hash and header checked).

    The header is validated field by field against the weights (:func:`validate_manybody_header`)
    before the module is built; refusals are :class:`ModelFileError` naming the file and field.
    """
    header, state = load_model_file(path, expected_kind=MODEL_KIND)
    args = validate_manybody_header(path, header, state)
    model = ManyBodyOperator(**args)
    model.load_state_dict(state)
    return model.to(device).eval(), header


def validate_manybody_header(path, header: dict, state: dict) -> dict:
    """Check a many-body header field by field against its weights; return the constructor arguments.

    Types and ranges (cutoff, stride, velocity_scale positive finite; window ≥ 2; hidden,
    layers, n_rbf positive integers; force_input a boolean; masses positive; system.n_atoms a
    positive integer), the header's stride against the architecture's, then what the weights
    reveal: n_rbf and the cutoff (radial-basis centres), velocity_scale (a buffer), hidden
    (LSTM), force_input (LSTM inputs), layers (interaction blocks); then all shapes against a
    module built on the meta device. The window leaves no trace in the weights: the file's
    content hash covers it.
    """
    check = HeaderCheck(path, header, state)
    check.architecture_version(ARCHITECTURE_VERSION, "many-body")
    check.get("architecture")
    args = {"cutoff": check.positive_float("architecture.cutoff", unit="Å"),
            "stride": check.positive_float("architecture.stride", unit="ASE time"),
            "velocity_scale": check.positive_float("architecture.velocity_scale", unit="Å/ASE time"),
            "window": check.positive_int("architecture.window", minimum=2),
            "hidden": check.positive_int("architecture.hidden"),
            "layers": check.positive_int("architecture.layers"),
            "n_rbf": check.positive_int("architecture.n_rbf"),
            "force_input": check.boolean("architecture.force_input")}
    if "stride" in header:
        check.equal("stride", check.positive_float("stride", unit="ASE time"), "architecture.stride", args["stride"])
    check.float_list("masses", positive=True)
    if check.get("system.n_atoms", None) is not None:
        check.positive_int("system.n_atoms")
    check.dtype("dtype", "float32")
    check.dim("architecture.n_rbf", args["n_rbf"], "centers", 0)
    centers = check.tensor("centers")
    if abs(float(centers[-1]) - args["cutoff"]) > 1e-5 * args["cutoff"]:
        raise check.fail("architecture.cutoff", f"= {args['cutoff']} conflicts with the weights: their radial basis "
                                                f"ends at {float(centers[-1]):.6g} Å")
    v_scale = check.tensor("v_scale")
    if v_scale.numel() != 1 or abs(float(v_scale) - args["velocity_scale"]) > 1e-5 * args["velocity_scale"]:
        raise check.fail("architecture.velocity_scale", f"= {args['velocity_scale']} conflicts with the weights: "
                                                        f"their v_scale is {v_scale.tolist()}")
    check.dim("architecture.hidden", args["hidden"], "lstm.weight_hh_l0", 1)
    check.dim("architecture.force_input", 8 if args["force_input"] else 4, "lstm.weight_ih_l0", 1)
    check.count("architecture.layers", args["layers"], "interactions")
    context = ", ".join(f"{k}={args[k]}" for k in ("hidden", "layers", "n_rbf", "force_input"))
    check.same_shapes(lambda: ManyBodyOperator(**args), context)
    return args
