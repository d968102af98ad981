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
from .committee import uncertainty
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
    model_or_path : EGNNEnergyModel, a list of them (a committee), or the path of a model file
        (one EGNN, or a committee file from ``surrogate train egnn --committee K``)
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

    A committee (K members, :mod:`surrogate.egnn.committee`) returns the member mean of energy,
    forces, stress and per-atom energies (the mean forces are minus the gradient of the mean
    energy), and ``ForceResult.uncertainty``: ``energy_std`` eV, ``forces_std`` [n] eV/Å (norm of
    each atom's force std vector) and ``max_force_std`` eV/Å, population stds (ddof=0) over the
    members. It costs K single-model evaluations on one shared neighbor list and edge set.
    """

    def __init__(self, model_or_path, device="cpu", dtype=None, skin: float = 1.0, script: bool = True,
                 topology=None):
        models, committee, self.name = _resolve_models(model_or_path, device, dtype)
        #: whether this provider evaluates a committee (a committee file or a list of models): results then
        #: carry ``uncertainty`` (see :mod:`surrogate.egnn.committee`)
        self.committee = committee
        target_dtype = models[0].dtype if dtype is None else resolve_dtype(dtype)
        self._install(models, torch.device(device), target_dtype)
        self.neighbor_list = NeighborList(self.model.cutoff, skin=skin, full=True)
        self.edge_cache = EdgeCache(self.neighbor_list, self.model.device, self.model.dtype)
        self._script = script
        self._set_forwards()
        self._numbers = None  # atomic numbers the cached species indices belong to
        self._species = None
        self._batch = None
        self._cell_key = None
        self._cell = None
        #: the model's bond rule ("none", "covalent", "topology") and the bond set derived for this system
        self.bond_edges = getattr(self.model, "bond_edges", "none")
        self.topology = topology
        self.bonds = None

    def _set_forwards(self) -> None:
        """What each call runs per member: its TorchScript compilation (when ``script`` and it compiles)."""
        self._forwards = [scripted(m) if self._script else m for m in self.models]
        #: whether calls run the TorchScript compilation of the model(s)
        self.scripted = all(f is not m for f, m in zip(self._forwards, self.models))
        self._forward = self._forwards[0]

    def set_models(self, models) -> None:
        """Replace the members by ``models`` (e.g. a committee fine-tuned in place), keeping the neighbor list
        and the caches; they must share the current cutoff, species and bond rule and are moved to its device
        and dtype. A provider made from one model stays a single model only if given one model."""
        from .committee import check_members

        models = check_members(models if isinstance(models, (list, tuple)) else [models], self.name)
        first = models[0]
        if (first.cutoff, first.species, first.bond_edges) != (self.model.cutoff, self.model.species,
                                                              self.model.bond_edges):
            raise InputError(f"{self.name}: new members must keep cutoff {self.model.cutoff}, species "
                             f"{self.model.species} and bond rule {self.model.bond_edges!r}")
        self._install(models, self.model.device, self.model.dtype)
        self.committee = self.committee or len(self.models) > 1
        self._set_forwards()

    def _install(self, models, device, dtype) -> None:
        """Take ``models`` as the members: moved to ``device`` and ``dtype``, in eval mode, weights frozen."""
        self.models = [m.to(device=device, dtype=dtype).eval() for m in models]
        for m in self.models:
            for p in m.parameters():
                p.requires_grad_(False)  # only positions need gradients here
        #: the (first) member: cutoff, species and bond rule, which all members share
        self.model = self.models[0]

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
        cell_t = self._cell_tensor(cell)
        to64 = lambda t: t.detach().to("cpu", torch.float64).numpy()  # noqa: E731
        outs = []
        # A committee costs K single-model calls (a loop over members on the one shared graph).
        # The profiling executor's first calls and every new edge count run a different kernel path, whose
        # last bits differ (1e-8 eV/Å in float32): a resumed run would then not repeat an uninterrupted one.
        # Without its optimisations TorchScript is deterministic call to call, and still faster than eager
        # (4.4 against 5.6 ms for ethanol, 32 × 2, one thread).
        with torch.jit.optimized_execution(False):
            for forward, member in zip(self._forwards, self.models):
                out = evaluate_tensors(forward, member, species, pos, edges.edge_index, edges.shifts, cell_t,
                                       self._batch, stress=stress, bonded=edges.bonded)
                outs.append((float(out.energy.sum().item()), to64(out.forces),
                             to64(out.stress[0]) if stress else None, to64(out.energies)))
        if not self.committee:
            energy, forces, sigma, energies = outs[0]
            return check_finite(ForceResult(energy=energy, forces=forces, stress=sigma, energies=energies),
                                self.name)
        return check_finite(committee_result(outs, stress), self.name)

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


def committee_result(outs, stress: bool) -> ForceResult:
    """The committee's ForceResult from its members' (energy eV, forces [n, 3], stress [3, 3] or None,
    energies [n]): the member mean of each, and the spread in ``uncertainty`` (population std, ddof=0)."""
    energies_k = np.array([o[0] for o in outs])  # [K] eV
    forces_k = np.stack([o[1] for o in outs])  # [K, n, 3] eV/Å
    return ForceResult(
        energy=float(energies_k.mean()),
        forces=forces_k.mean(axis=0),  # = −∇ of the mean energy: the gradient is linear
        stress=np.stack([o[2] for o in outs]).mean(axis=0) if stress else None,
        energies=np.stack([o[3] for o in outs]).mean(axis=0),
        uncertainty=uncertainty(energies_k, forces_k),
    )


def _resolve_models(model_or_path, device, dtype):
    """(models, is_committee, name) from an EGNNEnergyModel, a list/tuple of them, or a model file path
    (a single EGNN file or a committee file)."""
    from .committee import check_members, load_models

    if isinstance(model_or_path, EGNNEnergyModel):
        return [model_or_path], False, "EGNN model"
    if isinstance(model_or_path, (list, tuple)):
        models = check_members(model_or_path, "EGNN committee")
        return models, True, f"EGNN committee of {len(models)}"
    models, committee = load_models(model_or_path, device=device, dtype=dtype)
    what = "committee" if committee else "model"
    return models, committee, f"EGNN {what} {os.fspath(model_or_path)}"
