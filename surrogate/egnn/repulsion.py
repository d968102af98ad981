"""A short-range repulsive prior for the EGNN: the ZBL screened nuclear repulsion below a per-pair radius.

    E_rep = Σ_{pairs i<j} ZBL(r_ij; Z_i, Z_j) · f(r_ij / R(Z_i, Z_j)),
    ZBL(r) = (e²/4πε₀) Z_i Z_j / r · φ(r / a),  a = 0.46850 Å / (Z_i^0.23 + Z_j^0.23),
    φ(x) = 0.18175 e^{−3.19980x} + 0.50986 e^{−0.94229x} + 0.28022 e^{−0.40290x} + 0.02817 e^{−0.20162x},
    f(x) = 1 − 28x⁶ + 48x⁷ − 21x⁸ for x < 1, else 0   (the polynomial envelope MACE uses for its ZBL term).

A learned potential knows nothing about distances its training data never showed: two atoms pushed closer than
any pair in the data can meet an attraction that is not there (the EGNN of the water demo pulled two O atoms to
1.6 Å, with an H between them, where GFN2-xTB never went below 2.6 Å). The ZBL term is the physical repulsion of
two screened nuclei; it is switched off smoothly at ``R`` per pair of elements, so with ``R`` the closest
approach of that pair in the training data it is exactly zero on every training frame (the network learns the
same as without it) and only acts where the data has nothing to say. Default ``R``: the sum of the covalent radii
(as MACE). Energies eV, distances Å; forces come by autograd through the model's energy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

#: e²/(4πε₀) in eV·Å
COULOMB_EV_A = 14.399645478425668
#: ZBL universal screening function φ(x) = Σ c_k exp(−d_k x)
ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)


def covalent_radii_sum(species) -> list[list[float]]:
    """R[a][b] = covalent radius of species a + that of b (Å, ASE's table) for atomic numbers ``species``."""
    from ase.data import covalent_radii

    return [[float(covalent_radii[a] + covalent_radii[b]) for b in species] for a in species]


class ZBLRepulsion(nn.Module):
    """Per-atom ZBL repulsion energies (eV) on a graph's edges, switched off at a per-pair radius.

    species : atomic numbers of the model's species (sorted); radii : [S][S] Å, symmetric, positive
    (None: :func:`covalent_radii_sum`). Edges must come in both directions (a full neighbor list): each
    directed edge carries half of its pair's energy, to its receiver.
    """

    def __init__(self, species: list[int], radii=None):
        super().__init__()
        radii = covalent_radii_sum(species) if radii is None else radii
        r = np.asarray(radii, dtype=np.float64)  # checked in numpy: the module may be built on the meta device
        if r.shape != (len(species), len(species)) or not np.allclose(r, r.T) or not bool((r > 0).all()):
            raise ValueError(f"repulsion radii must be a symmetric {len(species)}x{len(species)} table of positive "
                             f"distances (Å), got {radii}")
        self._radii = [[float(v) for v in row] for row in r.tolist()]
        self.register_buffer("atomic_numbers", torch.as_tensor([float(z) for z in species]))
        self.register_buffer("radii", torch.tensor(r.tolist(), dtype=torch.get_default_dtype()))

    def radii_table(self) -> list[list[float]]:
        """The radii (Å) as given (the model file's ``repulsion_radii``)."""
        return [list(row) for row in self._radii]

    def forward(self, species: Tensor, edge_index: Tensor, r: Tensor) -> Tensor:
        """species long [n]; edge_index long [2, E] (receiver, sender); r [E] Å → per-atom energies [n] eV."""
        i, j = edge_index[0], edge_index[1]
        si, sj = species[i], species[j]
        zi, zj = self.atomic_numbers[si], self.atomic_numbers[sj]
        x = r / self.radii[si, sj]
        inside = x < 1.0
        xs = torch.where(inside, x, torch.zeros_like(x))
        # 1 − 28x⁶ + 48x⁷ − 21x⁸ in factored form: the expanded sum cancels to ~1e-7 relative in float32 near
        # x = 1 (e.g. an O–H bond at the covalent-radii switch-off), where the factored form keeps full precision.
        om = 1.0 - xs
        envelope = om * om * om * (1.0 + xs * (3.0 + xs * (6.0 + xs * (10.0 + xs * (15.0 + 21.0 * xs)))))
        envelope = torch.where(inside, envelope, torch.zeros_like(x))
        rs = torch.where(inside, r, torch.ones_like(r))  # no 1/r blow-up (or NaN gradient) on switched-off edges
        a = 0.46850 / (zi**0.23 + zj**0.23)
        u = rs / a
        phi = (0.18175 * torch.exp(-3.19980 * u) + 0.50986 * torch.exp(-0.94229 * u)
               + 0.28022 * torch.exp(-0.40290 * u) + 0.02817 * torch.exp(-0.20162 * u))  # ZBL_C, ZBL_D
        e_edge = 0.5 * 14.399645478425668 * zi * zj / rs * phi * envelope  # COULOMB_EV_A
        out = torch.zeros(species.shape[0], dtype=r.dtype, device=r.device)
        return out.index_add(0, i, e_edge)


@torch.no_grad()
def closest_approach(species_count: int, graphs) -> list[list[float | None]]:
    """Shortest distance (Å) of each pair of species over the edges of ``graphs`` (None: never within the cutoff).

    graphs : objects with ``species`` or per-node species indices in ``x``, ``edge_index`` and edge vectors
    available via :func:`edge_lengths`.
    """
    best = [[None] * species_count for _ in range(species_count)]
    for sp, edge_index, r in graphs:
        a, b = sp[edge_index[0]], sp[edge_index[1]]
        for p in range(species_count):
            for q in range(p, species_count):
                m = ((a == p) & (b == q)) | ((a == q) & (b == p))
                if bool(m.any()):
                    v = float(r[m].min())
                    if best[p][q] is None or v < best[p][q]:
                        best[p][q] = best[q][p] = v
    return best
