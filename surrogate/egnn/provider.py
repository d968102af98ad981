"""The EGNN energy model as a force provider for the driver (``integrators.protocols.ForceProvider``).

Per call the provider does only what the new positions require: the species
indices (while the atomic numbers are the same array values), the edge tensors
(while the Verlet list and the set of pairs within the cutoff are the same, see
:class:`~surrogate.egnn.graph_cache.EdgeCache`), the batch vector and the zero
lattice shifts of a non-periodic structure are kept between calls, and the model
runs as its TorchScript compilation when it compiles (about 20% less overhead per
call on small molecules; the eager module otherwise, with the same numbers to
float rounding).
"""

from __future__ import annotations

import os
import warnings
import weakref

import numpy as np
import torch

from systems.errors import InputError
from systems.forces import ForceResult, check_finite
from systems.neighbor_list import NeighborList

from .autograd_forces import evaluate_tensors
from .graph_cache import EdgeCache
from ..dtypes import resolve_dtype
from .model import EGNNEnergyModel


#: model -> (dtype, device, its TorchScript compilation): compiling takes about a second, once per model
_SCRIPTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def scripted(model: EGNNEnergyModel):
    """``torch.jit.script(model)`` (it shares the model's parameters), compiled once per model, dtype and
    device; the eager model itself when TorchScript cannot compile it."""
    key = (model.dtype, model.device)
    hit = _SCRIPTED.get(model)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks TorchScript deprecated; it still pays here
            warnings.simplefilter("ignore", DeprecationWarning)
            # TorchScript's notes on how it reads annotations (UserWarning) say nothing about the user's run.
            warnings.filterwarnings("ignore", category=UserWarning, message="The TorchScript type system")
            compiled = torch.jit.script(model)
    except Exception:  # noqa: BLE001 - a model TorchScript cannot compile runs eagerly
        compiled = model
    _SCRIPTED[model] = (key, compiled)
    return compiled


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
    script : bool
        Run the model as ``torch.jit.script(model)`` (falls back to the eager
        module, silently, when the model does not compile; ``self.scripted`` says which).
    topology : MDTraj Topology or topology file (e.g. a PDB), or None
        Only for a model with bond-typed edges (``bond_edges``, :mod:`surrogate.egnn.bonds`):
        the bonds of rule "topology". The rule "covalent" takes them from the first structure
        evaluated. Either way the bond set is derived once and kept (``self.bonds``); a
        structure with other atoms is then refused.

    ``compute(system, stress=False) -> ForceResult`` returns float64 numpy
    arrays: energy eV, forces [n, 3] eV/Å, stress [3, 3] eV/Å³ (periodic
    systems only), per-atom energies [n] eV. A non-finite result (e.g. NaN
    weights) raises :class:`~systems.forces.NonFiniteError` naming the model.
    """

    def __init__(self, model_or_path, device="cpu", dtype=None, skin: float = 1.0, script: bool = True,
                 topology=None):
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
        self.edge_cache = EdgeCache(self.neighbor_list, self.model.device, self.model.dtype)
        self._forward = self.model
        #: whether calls run the TorchScript compilation of the model
        self.scripted = False
        if script:
            self._forward = scripted(self.model)
            self.scripted = self._forward is not self.model
        self._numbers = None  # atomic numbers the cached species indices belong to
        self._species = None
        self._batch = None
        self._cell_key = None
        self._cell = None
        #: the model's bond rule ("none", "covalent", "topology") and the bond set derived for this system
        self.bond_edges = getattr(self.model, "bond_edges", "none")
        self.topology = topology
        self.bonds = None

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    def _species_for(self, numbers) -> torch.Tensor:
        """Species indices [n] of ``numbers``, cached while the numbers are the same; unknown elements raise."""
        numbers = np.asarray(numbers)
        if self._numbers is None or not np.array_equal(numbers, self._numbers):
            self._species = self.model.species_index(numbers)  # raises naming unknown elements
            self._numbers = numbers.copy()
            self._batch = torch.zeros(len(numbers), dtype=torch.long, device=self.model.device)
        return self._species

    def _cell_tensor(self, cell: np.ndarray) -> torch.Tensor:
        """The cell as a [1, 3, 3] tensor in the model's dtype, cached while it is unchanged."""
        if self._cell_key is None or not np.array_equal(cell, self._cell_key):
            self._cell_key = cell.copy()
            self._cell = torch.from_numpy(cell.copy()).to(device=self.model.device, dtype=self.model.dtype)
            self._cell = self._cell.reshape(1, 3, 3)
        return self._cell

    def evaluate(self, numbers, positions, cell, pbc, stress: bool = False) -> ForceResult:
        """ForceResult for raw arrays: numbers [n], positions [n, 3] Å, cell [3, 3] Å, pbc [3]."""
        pbc = np.asarray(pbc, dtype=bool).reshape(3)
        if stress and not pbc.all():
            raise InputError(f"stress needs a periodic cell on all three axes, got pbc={pbc.tolist()}")
        species = self._species_for(numbers)  # raises naming unknown elements before any work
        if stress:
            self.model.warn_untrained_stress(self.name)  # once per model, if it never saw a stress
        positions = np.ascontiguousarray(positions, dtype=np.float64)
        cell = np.asarray(cell, dtype=np.float64).reshape(3, 3)
        if len(positions) != len(species):
            raise InputError(f"{len(species)} atomic numbers but positions for {len(positions)} atoms")
        if self.bond_edges != "none":
            self._ensure_bonds(numbers, positions, cell, pbc)
        edges = self.edge_cache.edges(positions, cell, pbc)
        model = self.model
        pos = torch.tensor(positions, dtype=model.dtype, device=model.device)
        # The profiling executor's first calls and every new edge count run a different kernel path, whose
        # last bits differ (1e-8 eV/Å in float32): a resumed run would then not repeat an uninterrupted one.
        # Without its optimisations TorchScript is deterministic call to call, and still faster than eager
        # (4.4 against 5.6 ms for ethanol, 32 × 2, one thread).
        with torch.jit.optimized_execution(False):
            out = evaluate_tensors(self._forward, model, species, pos, edges.edge_index, edges.shifts,
                                   self._cell_tensor(cell), self._batch, stress=stress, bonded=edges.bonded)
        to64 = lambda t: t.detach().to("cpu", torch.float64).numpy()  # noqa: E731
        return check_finite(ForceResult(
            energy=float(out.energy.sum().item()),
            forces=to64(out.forces),
            stress=to64(out.stress[0]) if stress else None,
            energies=to64(out.energies),
        ), self.name)

    def _ensure_bonds(self, numbers, positions, cell, pbc) -> None:
        """Derive the bond set once (first structure or topology); refuse a structure of another size."""
        if self.bonds is None:
            from .bonds import bond_set

            self.bonds = bond_set(self.bond_edges, numbers, positions, cell, pbc, topology=self.topology,
                                  source=self.name)
            self.edge_cache.clear()
            self.edge_cache.bonds = self.bonds
        else:
            self.bonds.check_atoms(len(positions), self.name)

    def compute(self, system, stress: bool = False) -> ForceResult:
        """Force-provider protocol: evaluate a :class:`systems.state.System`."""
        return self.evaluate(system.numbers, system.positions, system.cell, system.pbc, stress=stress)
