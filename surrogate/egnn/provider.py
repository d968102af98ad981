"""The EGNN energy model as a force provider for the driver (``integrators.protocols.ForceProvider``)."""

from __future__ import annotations

import os

import numpy as np
import torch

from systems.errors import InputError
from systems.forces import ForceResult, check_finite
from systems.neighbor_list import NeighborList

from .autograd_forces import energy_forces_stress
from .graph import build_graph, single_batch
from ..dtypes import resolve_dtype
from .model import EGNNEnergyModel


class EGNNForceProvider:
    """Energy, forces and stress of a System from an :class:`EGNNEnergyModel`.

    Parameters
    ----------
    model_or_path : EGNNEnergyModel or path to a model file
    device : str or torch.device, e.g. "cpu" or "cuda"
    dtype : "float32" / "float64" / torch dtype, or None to keep the model's
    skin : float, Å
        Verlet skin of the provider's own neighbor list (rebuilt only when an
        atom has moved more than skin/2).

    ``compute(system, stress=False) -> ForceResult`` returns float64 numpy
    arrays: energy eV, forces [n, 3] eV/Å, stress [3, 3] eV/Å³ (periodic
    systems only), per-atom energies [n] eV. A non-finite result (e.g. NaN
    weights) raises :class:`~systems.forces.NonFiniteError` naming the model.
    """

    def __init__(self, model_or_path, device="cpu", dtype=None, skin: float = 1.0):
        if isinstance(model_or_path, EGNNEnergyModel):
            model = model_or_path
            #: how errors name this provider
            self.name = "EGNN model"
        else:
            self.name = f"EGNN model {os.fspath(model_or_path)}"
            from .train import load_egnn

            model = load_egnn(model_or_path, device=device, dtype=dtype)
        target_dtype = model.dtype if dtype is None else resolve_dtype(dtype)
        self.model = model.to(device=torch.device(device), dtype=target_dtype).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)  # only positions need gradients here
        self.neighbor_list = NeighborList(model.cutoff, skin=skin, full=True)

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    def evaluate(self, numbers, positions, cell, pbc, stress: bool = False) -> ForceResult:
        """ForceResult for raw arrays: numbers [n], positions [n, 3] Å, cell [3, 3] Å, pbc [3]."""
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if stress and not pbc.all():
            raise InputError(f"stress needs a periodic cell on all three axes, got pbc={pbc.tolist()}")
        self.model.species_index(numbers)  # raises naming unknown elements before any work
        if stress:
            self.model.warn_untrained_stress(self.name)  # once per model, if it never saw a stress
        pairs = self.neighbor_list.compute(positions, cell, pbc)
        graph = single_batch(build_graph(numbers, positions, cell, pbc, self.cutoff, neighbors=pairs))
        out = energy_forces_stress(self.model, graph, stress=stress)
        to64 = lambda t: t.detach().to("cpu", torch.float64).numpy()  # noqa: E731
        return check_finite(ForceResult(
            energy=float(out.energy.sum().item()),
            forces=to64(out.forces),
            stress=to64(out.stress[0]) if stress else None,
            energies=to64(out.energies),
        ), self.name)

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Force-provider protocol: evaluate a :class:`systems.state.System`."""
        return self.evaluate(system.numbers, system.positions, system.cell, system.pbc, stress=stress)
