"""The EGNN energy model: species embedding → L EGNN layers → per-atom energy → sum.

    E = Σ_i [ energy_scale · ε(h_i^L) + e_ref(Z_i) ]

* Edges come from the neighbor list as (i, j, shift); the edge vector
  ``x_j − x_i + shift @ cell`` is formed here in torch from the positions and
  the cell, so autograd gives forces (and, through a strain, the stress).
* A smooth cutoff envelope multiplies every message, so E is continuous and
  differentiable when a pair crosses the cutoff.
* The coordinate branch refines the edge vectors between layers
  (r_ij ← r_ij + dx_j − dx_i); only invariants reach the energy, so E is
  exactly invariant under rotations, reflections, translations and permutations.
* ``reference_energies`` (per species, eV) and ``energy_scale`` (eV) are
  buffers fitted from the training set (:meth:`fit_normalisation`).
"""

from __future__ import annotations

import numpy as np
import torch
from typing import Optional

from torch import Tensor, nn
from torch_geometric.utils import scatter

from systems.errors import InputError

from ..dtypes import resolve_dtype

from .bonds import BOND_ATTR_DIM, check_bond_rule
from .layer import EGNNLayer
from .radial import CutoffEnvelope, GaussianBasis, safe_norm
from .repulsion import ZBLRepulsion

def element_symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}"


def composition_reference(counts: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Per-species reference energies e [n_species] (eV/atom) with ``counts @ e ≈ energies``.

    counts : [n_structures, n_species] atoms of each species; energies : [n_structures] eV.
    Least squares (the minimum-norm one, as ``np.linalg.lstsq``), then a shared per-atom offset δ
    (added to every species) that makes the plain mean residual over the structures exactly zero
    where it is not already (least squares alone zeroes the atom-weighted mean; with compositions
    of different sizes the plain one can differ). With a single composition (every molecular MD
    set) the system is rank-deficient and the minimum-norm solution already puts the mean energy
    there exactly, so the network never has to learn a constant. When δ is not needed the result
    is bit-identical to plain least squares (seeded training runs reproduce).
    """
    counts = np.asarray(counts, dtype=np.float64)
    energies = np.asarray(energies, dtype=np.float64)
    e_ref, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    residual = energies - counts @ e_ref
    n_atoms = counts.sum()
    if n_atoms > 0 and abs(residual.mean()) > 1e-12 * (1.0 + np.abs(energies).mean()):
        e_ref = e_ref + residual.sum() / n_atoms
    return e_ref


class EGNNEnergyModel(nn.Module):
    """Interatomic potential built from EGNN layers.

    Parameters
    ----------
    species : list[int]
        Atomic numbers the model knows (sorted and de-duplicated).
    cutoff : float, Å
        Graph cutoff; the envelope reaches zero here.
    hidden, layers : int
        Feature width F and number of EGNN layers L.
    envelope : {"cosine", "polynomial"}
    n_radial : int
        Gaussian radial-basis functions used as edge attributes.
    avg_num_neighbors : float
        Aggregated messages are divided by this (set it from the data).
    pair_repulsion : None or "zbl"
        Add the ZBL screened nuclear repulsion, switched off at ``repulsion_radii`` [S][S] Å per pair of species
        (None: the covalent radii sums), to the learned energy (:mod:`surrogate.egnn.repulsion`).
    bond_edges : {"none", "covalent", "topology"}
        Bond-typed edges (:mod:`surrogate.egnn.bonds`): unless "none", a one-hot
        bonded/non-bonded flag is concatenated to the radial edge attributes of every
        layer, and ``forward`` needs ``bonded``. Only the rule is stored, never the bonds.
    dtype : torch dtype or "float32"/"float64"; device : torch device.
    """

    def __init__(
        self,
        species: list[int],
        cutoff: float,
        hidden: int = 64,
        layers: int = 4,
        envelope: str = "cosine",
        n_radial: int = 8,
        avg_num_neighbors: float = 1.0,
        pair_repulsion: str | None = None,
        repulsion_radii=None,
        bond_edges: str = "none",
        dtype=torch.float32,
        device="cpu",
    ):
        super().__init__()
        species = sorted({int(z) for z in species})
        if not species or species[0] < 1 or species[-1] > 118:
            raise InputError(f"`species` must be atomic numbers in 1..118, got {species}")
        if layers < 1:
            raise InputError(f"`layers` must be >= 1, got {layers}")
        self.species = species
        self.cutoff = float(cutoff)
        self.hidden = int(hidden)
        self.n_layers = int(layers)
        self.envelope_kind = envelope
        self.n_radial = int(n_radial)
        self.avg_num_neighbors = float(avg_num_neighbors)
        self.bond_edges = check_bond_rule(bond_edges)
        #: whether forward concatenates the one-hot bond flag to the edge attributes
        self.use_bond_edges = self.bond_edges != "none"

        table = torch.full((119,), -1, dtype=torch.long)
        table[torch.tensor(species)] = torch.arange(len(species))
        self.register_buffer("species_table", table)  # Z -> species index, -1 if unknown
        self.register_buffer("reference_energies", torch.zeros(len(species)))  # eV per atom of each species
        self.register_buffer("energy_scale", torch.ones(()))  # eV
        #: set by training / loading: whether the loss ever saw a stress (see warn_untrained_stress)
        self.trained_on_stress = False

        self.embedding = nn.Embedding(len(species), hidden)
        self.envelope = CutoffEnvelope(cutoff, envelope)
        self.radial = GaussianBasis(cutoff, n_radial)
        self.layers = nn.ModuleList(
            EGNNLayer(
                hidden,
                edge_attr_dim=n_radial + (BOND_ATTR_DIM if self.use_bond_edges else 0),
                # The last layer's coordinate update would never be used.
                update_coords=(k < layers - 1),
                coord_aggr="smooth_mean",
                tanh_coords=True,
                aggr_norm=self.avg_num_neighbors,
                length_scale=self.cutoff,
            )
            for k in range(layers)
        )
        self.readout = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        if pair_repulsion not in (None, "zbl"):
            raise InputError(f"`pair_repulsion` must be None or 'zbl', got {pair_repulsion!r}")
        self.pair_repulsion = pair_repulsion
        self.repulsion = ZBLRepulsion(species, repulsion_radii) if pair_repulsion == "zbl" else None
        self.to(device=device, dtype=resolve_dtype(dtype))

    # ------------------------------------------------------------------ metadata
    def config(self) -> dict:
        """Architecture hyper-parameters (JSON-able); ``EGNNEnergyModel(**config)`` rebuilds the module."""
        return {
            "species": list(self.species),
            "cutoff": self.cutoff,
            "hidden": self.hidden,
            "layers": self.n_layers,
            "envelope": self.envelope_kind,
            "n_radial": self.n_radial,
            "avg_num_neighbors": self.avg_num_neighbors,
            "bond_edges": self.bond_edges,
            **({"pair_repulsion": self.pair_repulsion, "repulsion_radii": self.repulsion.radii_table()}
               if self.repulsion is not None else {}),
        }

    @property
    def dtype(self) -> torch.dtype:
        return self.embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.embedding.weight.device

    def species_index(self, numbers) -> Tensor:
        """Atomic numbers [n] -> species indices [n] (long, on the model's device); unknown elements raise naming them."""
        if isinstance(numbers, Tensor):
            z = numbers.to(device=self.species_table.device, dtype=torch.long)
        else:
            z = torch.as_tensor(np.asarray(numbers), dtype=torch.long, device=self.species_table.device)
        if z.numel() and (z.min() < 0 or z.max() > 118):
            raise InputError(f"atomic numbers must be in 0..118, got {sorted(set(z.tolist()))}")
        idx = self.species_table[z]
        if (idx < 0).any():
            missing = sorted(set(z[idx < 0].tolist()))
            known = ", ".join(element_symbol(s) for s in self.species)
            raise InputError(
                f"element(s) {', '.join(element_symbol(s) for s in missing)} not in this model "
                f"(it knows {known})"
            )
        return idx

    @torch.no_grad()
    def fit_normalisation(self, species_counts: np.ndarray, energies: np.ndarray, forces: np.ndarray | None) -> None:
        """Fit per-species reference energies and the energy scale from a training set.

        species_counts : [n_structures, n_species] atoms of each species per structure;
        energies : [n_structures] eV; forces : [n_atoms_total, 3] eV/Å or None.
        Reference energies: :func:`composition_reference` (least squares, with a zero mean
        residual for any set of compositions, a single one included). The scale is the
        force RMS (eV/Å × 1 Å), or the per-atom residual energy RMS when forces are absent.
        """
        counts = np.asarray(species_counts, dtype=np.float64)
        energies = np.asarray(energies, dtype=np.float64)
        e_ref = composition_reference(counts, energies)
        scale = 0.0
        if forces is not None and len(forces):
            scale = float(np.sqrt(np.mean(np.asarray(forces, dtype=np.float64) ** 2)))
        if not scale > 1e-8:
            resid = (energies - counts @ e_ref) / np.maximum(counts.sum(axis=1), 1.0)
            scale = float(np.sqrt(np.mean(resid**2)))
        self.reference_energies.copy_(torch.as_tensor(e_ref))
        self.energy_scale.fill_(scale if scale > 1e-8 else 1.0)

    @torch.no_grad()
    def shift_reference_energies(self, delta_eV) -> None:
        """Add ``delta_eV`` [n_species] (eV per atom of each species) to the reference energies."""
        delta = torch.as_tensor(np.asarray(delta_eV, dtype=np.float64)).reshape(-1)
        if delta.shape != self.reference_energies.shape:
            raise InputError(f"reference-energy shift needs {len(self.species)} values, got {delta.numel()}")
        self.reference_energies.add_(delta.to(self.reference_energies))

    def warn_untrained_stress(self, source: str) -> None:
        """Warn once per model, naming ``source``, when stress is asked of a model never trained on stress.

        ``trained_on_stress`` is set by training and by loading a model file (files written
        before the key existed count as not trained on stress).
        """
        if getattr(self, "trained_on_stress", False) or getattr(self, "_warned_stress", False):
            return
        self._warned_stress = True
        import warnings

        warnings.warn(f"{source}: this model was never trained on stress (its training data had none, or "
                      "--stress-weight was 0); its stress comes from the energy alone and can be far off "
                      "(train on periodic frames with a stress to fit it)", UserWarning, stacklevel=3)

    # ------------------------------------------------------------------ physics
    def forward(self, species: Tensor, pos: Tensor, edge_index: Tensor, shifts: Tensor, cell: Tensor, batch: Tensor,
                bonded: Optional[Tensor] = None) -> Tensor:
        """Per-atom energies in eV.

        species : long [n] species indices; pos : [n, 3] Å; edge_index : long [2, E]
        (row 0 receiver i, row 1 sender j); shifts : [E, 3] integer lattice shifts;
        cell : [B, 3, 3] Å (rows are lattice vectors); batch : long [n] structure index;
        bonded : [E] 1 for an edge between bonded atoms, 0 otherwise (needed, and only
        used, when the model has bond edges; :class:`surrogate.egnn.bonds.BondSet`).
        Returns energies [n] eV (sum per structure for E).
        """
        i, j = edge_index[0], edge_index[1]
        # r_ij = x_j − x_i + S·cell, in torch so autograd reaches pos and cell.
        offsets = torch.bmm(shifts.to(pos.dtype).unsqueeze(1), cell[batch[i]]).squeeze(1)  # [E, 3]
        edge_vec = pos[j] - pos[i] + offsets  # [E, 3]
        r = safe_norm(edge_vec)  # [E]
        weight = self.envelope(r)  # [E]
        edge_attr = self.radial(r)  # [E, n_radial]
        if self.use_bond_edges:
            if bonded is None:
                raise RuntimeError("this EGNN model has bond-typed edges: pass `bonded` [E] (see surrogate.egnn.bonds)")
            b = bonded.to(edge_attr.dtype).reshape(-1, 1)
            edge_attr = torch.cat([edge_attr, 1.0 - b, b], dim=-1)  # [E, n_radial + 2]
        h = self.embedding(species)  # [n, F]
        for layer in self.layers:
            h, dx = layer(h, edge_index, edge_vec, edge_attr, weight)
            if layer.update_coords:
                edge_vec = edge_vec + dx[j] - dx[i]  # refined, still equivariant
        out = self.readout(h).squeeze(-1)  # [n]
        energies = self.energy_scale * out + self.reference_energies[species]
        if self.repulsion is not None:
            energies = energies + self.repulsion(species, edge_index, r)
        return energies

    def structure_energy(self, atom_energies: Tensor, batch: Tensor, n_structures: int) -> Tensor:
        """Sum per-atom energies [n] into structure energies [B] (eV)."""
        return scatter(atom_energies, batch, dim=0, dim_size=n_structures, reduce="sum")
