"""Train an EGNN energy model on energies and forces, and load it back from its model file.

>>> path = train_egnn("cu_emt.extxyz", "runs/cu", cutoff=5.0, max_epochs=200)
>>> model = load_egnn(path)

The loss per batch is

    L = energy_weight · mean_s((E_s − Ê_s) / n_s)² + force_weight · mean_{i,c}(F_ic − F̂_ic)²
        + stress_weight · mean_{s,a,b}((σ_s,ab − σ̂_s,ab) · V_s / n_s)²

in eV²/atom², eV²/Å² and eV²/atom², with E_s the structure energy (eV), n_s its atom count,
σ_s its stress (eV/Å³) and V_s its cell volume (Å³). The stress enters as the virial per atom
σ·V/n (eV/atom), on the scale of the per-atom energy, so one weight suits dense and dilute
cells alike; it is used when every training structure is periodic and has a stress
(``stress_weight=None``, the default, then means :data:`DEFAULT_STRESS_WEIGHT` = 10, the
default force weight; else 0). On strained EMT copper (10 frames, 40 epochs) weights 0, 1 and 10
gave a stress MAE of 1.5, 0.36 and 0.13 times the stress spread, with the same force error at 0 and 10.

Energies are referenced per species (:func:`~surrogate.egnn.model.composition_reference`,
zero mean residual for any set of compositions), and after training the reference energies
are shifted once more so that the trained model's mean signed energy error on its training
structures is zero (per composition where there are several): a constant offset the network
failed to learn (its readout bias only sees the small per-atom energy term) cannot remain.

The training loop (Adam, plateau LR schedule, early stopping, clipping, EMA of the weights,
time budget, CSV log, best-model file, resume, torchrun data parallelism) is the shared
:class:`surrogate.training.trainer.Trainer`.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np
import torch

from surrogate.model_file import HeaderCheck, ModelFileError, data_hash, load_model_file, save_model_file
from surrogate.training.trainer import BEST_NAME, Trainer, TrainConfig, unwrap_model
from systems.errors import InputError

from .autograd_forces import energy_forces_stress
from .bonds import BOND_ATTR_DIM, BOND_EDGE_RULES, annotate_graphs, check_bond_rule
from .data import graphs_from_atoms, graphs_from_frames, has_stress, load_graphs, without_stress
from ..dtypes import resolve_dtype
from .model import EGNNEnergyModel, composition_reference

MODEL_KIND = "egnn"

#: Version of the EGNN architecture as stored in model files; files of another version are refused.
ARCHITECTURE_VERSION = 1

#: Stress weight used when every training structure has a stress and no weight is given.
DEFAULT_STRESS_WEIGHT = 10.0

UNITS = {"length": "Angstrom", "energy": "eV", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"}


# --------------------------------------------------------------------------- data
def _graphs(data, cutoff: float) -> list:
    """Graphs from a path, a list of Frames, a list of ase.Atoms, or a list of graphs."""
    if isinstance(data, (str, os.PathLike)):
        return load_graphs(data, cutoff)
    data = list(data)
    if not data:
        raise InputError("train_egnn: `data` is empty")
    first = data[0]
    if hasattr(first, "edge_index"):
        return data
    if hasattr(first, "get_positions"):
        return graphs_from_atoms(data, cutoff)
    if hasattr(first, "positions") and hasattr(first, "numbers"):
        return graphs_from_frames(data, cutoff)
    raise InputError(f"train_egnn: `data` must be a file path or a list of Frames, ase.Atoms or graphs, "
                     f"got a list of {type(first).__name__}")


def _split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < val_fraction < 1:
        raise InputError(f"`val_fraction` must be in (0, 1), got {val_fraction!r}")
    if n < 2:
        raise InputError(f"train_egnn needs at least 2 structures (train and validation), got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, int(round(val_fraction * n))), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _given_split(split, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A caller's (train, validation) index arrays into ``n`` structures, checked."""
    train_idx, val_idx = (np.asarray(part, dtype=np.int64).reshape(-1) for part in split)
    for name, idx in (("training", train_idx), ("validation", val_idx)):
        if not len(idx) or idx.min() < 0 or idx.max() >= n:
            raise InputError(f"train_egnn: `split` {name} indices must be a non-empty list in 0..{n - 1}")
    return train_idx, val_idx


def _training_hash(graphs) -> str:
    tensors = [t for g in graphs for t in (g.numbers, g.pos, g.cell, g.energy, g.forces)]
    if has_stress(graphs):  # a set with stresses is other training data than the same frames without
        tensors += [g.stress for g in graphs]
    return data_hash(*tensors)


# --------------------------------------------------------------------------- loss
def make_loss_fn(energy_weight: float = 1.0, force_weight: float = 10.0, stress_weight: float = 0.0):
    """``loss_fn(model, batch) -> (loss, metrics)`` for the shared Trainer (see module docstring).

    Metrics (batch means): ``energy_mae`` eV/atom, ``energy_mae_structure`` eV per structure,
    ``force_mae`` eV/Å, ``force_rmse`` eV/Å, and with ``stress_weight > 0`` ``stress_mae``
    eV/Å³ (mean over the 9 components). A batch must then carry ``stress`` [B, 3, 3].
    """
    weights = {"energy_weight": energy_weight, "force_weight": force_weight, "stress_weight": stress_weight}
    for name, value in weights.items():
        if not (value >= 0 and np.isfinite(value)):
            raise InputError(f"loss weight {name} must be a finite number >= 0, got {value!r}")
    if energy_weight + force_weight + stress_weight == 0:
        raise InputError(f"the loss weights are all 0 ({weights}): nothing would be trained")
    use_stress = stress_weight > 0

    def loss_fn(model, batch):
        core = unwrap_model(model)
        out = energy_forces_stress(model, batch, stress=use_stress, training=core.training)
        n_atoms = torch.bincount(batch.batch.to(core.device), minlength=out.energy.shape[0]).to(core.dtype)  # [B]
        e_err_total = out.energy - batch.energy.to(core.device, core.dtype)  # [B] eV
        e_err = e_err_total / n_atoms  # [B] eV/atom
        f_err = out.forces - batch.forces.to(core.device, core.dtype)  # [n, 3] eV/Å
        loss = energy_weight * (e_err**2).mean() + force_weight * (f_err**2).mean()
        metrics = {
            "energy_mae": float(e_err.detach().abs().mean()),
            "energy_mae_structure": float(e_err_total.detach().abs().mean()),
            "force_mae": float(f_err.detach().abs().mean()),
            "force_rmse": float(f_err.detach().pow(2).mean().sqrt()),
        }
        if use_stress:
            cell = batch.cell.to(core.device, core.dtype).reshape(-1, 3, 3)
            volume = torch.linalg.det(cell).abs()  # [B] Å³
            s_err = out.stress - batch.stress.to(core.device, core.dtype).reshape(-1, 3, 3)  # [B, 3, 3] eV/Å³
            virial_err = s_err * (volume / n_atoms).view(-1, 1, 1)  # eV/atom
            loss = loss + stress_weight * (virial_err**2).mean()
            metrics["stress_mae"] = float(s_err.detach().abs().mean())
        return loss, metrics

    return loss_fn


# --------------------------------------------------------------------------- files
def model_header(model: EGNNEnergyModel, training_hash: str | None = None) -> dict:
    """The JSON header of an EGNN model file."""
    return {
        "kind": MODEL_KIND,
        "architecture_version": ARCHITECTURE_VERSION,
        "architecture": model.config(),
        "cutoff": model.cutoff,
        "species": list(model.species),
        "units": UNITS,
        "normalisation": {
            "reference_energies_eV": model.reference_energies.double().cpu().tolist(),
            "energy_scale_eV": float(model.energy_scale),
        },
        "dtype": str(model.dtype).replace("torch.", ""),
        "training_data_hash": training_hash,
        "trained_on_stress": bool(getattr(model, "trained_on_stress", False)),
    }


def save_egnn(model: EGNNEnergyModel, path, training_hash: str | None = None) -> pathlib.Path:
    """Write ``model`` to a model file (weights + JSON header), atomically."""
    return save_model_file(path, model.state_dict(), model_header(model, training_hash))


def load_egnn(path, device="cpu", dtype=None, *, cutoff: float | None = None, species=None) -> EGNNEnergyModel:
    """Load an EGNN energy model file safely (no code can run).

    device : "cpu", "cuda"...; dtype : "float32"/"float64" or None for the stored dtype.
    cutoff : if given (Å), refuse a model trained with another cutoff.
    species : atomic numbers that must all be known to the model, or None.

    The file's content hash is checked (:func:`~surrogate.model_file.load_model_file`), then
    :func:`validate_egnn_header` checks every header field against the weights before the
    module is built. Raises :class:`ModelFileError` naming the file, the field and the problem
    (wrong kind, incompatible format or architecture version, bad or conflicting field, cutoff
    mismatch, missing element).
    """
    header, state = load_model_file(path, expected_kind=MODEL_KIND)
    arch, stored = validate_egnn_header(path, header, state)
    if cutoff is not None and not np.isclose(arch["cutoff"], float(cutoff), rtol=0, atol=1e-9):
        raise ModelFileError(f"model file {path}: cutoff mismatch, the model was trained with cutoff "
                             f"{arch['cutoff']} Å but {cutoff} Å was requested")
    model = EGNNEnergyModel(**arch, dtype=stored)
    model.load_state_dict(state)
    model.trained_on_stress = trained_on_stress(path, header)
    if species is not None:
        try:
            model.species_index(species)
        except InputError as exc:
            raise ModelFileError(f"model file {path}: {exc}") from exc
    return model.to(device=torch.device(device), dtype=stored if dtype is None else resolve_dtype(dtype))


def trained_on_stress(path, header: dict) -> bool:
    """The header's ``trained_on_stress`` (False for files written before the key existed)."""
    value = header.get("trained_on_stress", False)
    if not isinstance(value, bool):
        raise ModelFileError(f"model file {path}: field 'trained_on_stress' must be true or false, got {value!r}")
    return value


def validate_egnn_header(path, header: dict, state: dict) -> tuple[dict, torch.dtype]:
    """Check an EGNN header field by field against its weights; return (constructor arguments, dtype).

    Types and ranges first (cutoff a positive finite number of Å, hidden/layers/n_radial
    positive integers, avg_num_neighbors > 0, species atomic numbers), then every size the
    header implies against the tensors present (species → embedding rows and the species
    table, hidden → embedding width, layers → layer blocks, n_radial → edge inputs), then
    all shapes against a module built on the meta device (no memory). Nothing is allocated
    before the header is known to describe the tensors in the file.
    """
    check = HeaderCheck(path, header, state)
    check.architecture_version(ARCHITECTURE_VERSION, "EGNN")
    check.get("architecture")
    species = check.int_list("architecture.species", 1, 118)
    if len(set(species)) != len(species) or species != sorted(species):
        raise check.fail("architecture.species", f"must list distinct atomic numbers in increasing order, got {species}")
    arch = {
        "species": species,
        "cutoff": check.positive_float("architecture.cutoff", unit="Å"),
        "hidden": check.positive_int("architecture.hidden"),
        "layers": check.positive_int("architecture.layers"),
        "envelope": check.choice("architecture.envelope", ("cosine", "polynomial")),
        "n_radial": check.positive_int("architecture.n_radial"),
        "avg_num_neighbors": check.positive_float("architecture.avg_num_neighbors"),
        # Absent in files written before bond-typed edges existed: those have none.
        "bond_edges": check.choice("architecture.bond_edges", BOND_EDGE_RULES, default="none"),
    }
    if "pair_repulsion" in check.get("architecture"):  # optional (files before it existed have none)
        arch["pair_repulsion"] = check.choice("architecture.pair_repulsion", (None, "zbl"))
        radii = check.get("architecture.repulsion_radii", None)
        n = len(species)
        if radii is not None and not (isinstance(radii, list) and len(radii) == n and all(
                isinstance(row, list) and len(row) == n and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                                and v > 0 for v in row) for row in radii)):
            raise check.fail("architecture.repulsion_radii", f"must be a {n}x{n} table of positive distances (Å)")
        arch["repulsion_radii"] = radii
    extra = sorted(set(check.get("architecture")) - set(arch))
    if extra:
        raise check.fail("architecture", f"has unknown fields {extra}")
    if "cutoff" in header:
        check.equal("cutoff", check.positive_float("cutoff", unit="Å"), "architecture.cutoff", arch["cutoff"])
    if "species" in header:
        check.equal("species", check.int_list("species", 1, 118), "architecture.species", species)
    dtype = check.dtype("dtype", "float32")
    n_species = len(species)
    check.dim("architecture.species", n_species, "embedding.weight", 0)
    check.dim("architecture.species", n_species, "reference_energies", 0)
    check.dim("architecture.hidden", arch["hidden"], "embedding.weight", 1)
    table = check.tensor("species_table")
    expected = torch.full((119,), -1, dtype=torch.long)
    expected[torch.tensor(species)] = torch.arange(n_species)
    if table.shape != expected.shape or not torch.equal(table.to(torch.long), expected):
        known = sorted(int(z) for z in torch.nonzero(table.reshape(-1) >= 0).reshape(-1).tolist())
        raise check.fail("architecture.species", f"= {species} conflicts with the weights: their species table "
                                                 f"knows atomic numbers {known}")
    check.count("architecture.layers", arch["layers"], "layers")
    if "layers.0.edge_geometry.weight" in state:  # W_r acts on [r², radial basis]
        bond_dim = BOND_ATTR_DIM if arch["bond_edges"] != "none" else 0
        check.dim("architecture.n_radial", arch["n_radial"], "layers.0.edge_geometry.weight", 1, offset=1 + bond_dim)
    context = ", ".join(f"{k}={v}" for k, v in arch.items() if k in ("hidden", "layers", "n_radial"))
    check.same_shapes(lambda: EGNNEnergyModel(**arch, dtype=dtype, device="meta"), context)
    return arch, dtype


# --------------------------------------------------------------------------- training
def train_egnn(data, out_dir, *, cutoff: float = 5.0, hidden: int = 64, layers: int = 4, envelope: str = "cosine",
               energy_weight: float = 1.0, force_weight: float = 10.0, stress_weight: float | None = None,
               max_epochs: int = 200, batch_size: int = 8, lr: float = 2e-3, lr_factor: float = 0.5,
               lr_patience: int = 10, early_stopping_patience: int = 30, grad_clip: float = 10.0,
               val_fraction: float = 0.1, seed: int = 0, device: str = "cpu", dtype: str = "float32",
               ema_decay: float = 0.99, time_budget_min: float | None = None, pair_repulsion: str | None = None,
               resume: bool = False, progress: bool = True, bond_edges: str = "none",
               topology=None, split=None) -> pathlib.Path:
    """Train an :class:`EGNNEnergyModel` and return the path of the best model file.

    data : a trajectory file with energies and forces (extxyz, .traj, ...), or a
        list of :class:`systems.frame.Frame`, ase.Atoms (with energies/forces) or graphs.
    out_dir : receives ``best.pt`` (the model file), ``metrics.csv`` and ``checkpoint.pt``.
    cutoff Å, hidden, layers, envelope : architecture.
    energy_weight, force_weight, stress_weight : loss weights (see module docstring);
        ``stress_weight=None`` means 10 when every structure is periodic with a stress, else 0.
        A positive weight on data without stresses is refused.
    max_epochs, batch_size (structures), lr, lr_factor, lr_patience,
    early_stopping_patience, grad_clip : training loop (see ``TrainConfig``).
    ema_decay : EMA of the weights (0 turns it off); validation and ``best.pt`` use the average.
    time_budget_min : stop cleanly after this many minutes of training (None: no limit).
    pair_repulsion : None or "zbl": add the ZBL repulsion (:mod:`surrogate.egnn.repulsion`) switched off, per pair
        of elements, at that pair's closest approach in the training structures (the covalent radii sum for a
        pair never within the cutoff there), so it is zero on the data and acts only closer than the data went.
    val_fraction : share of structures held out for validation (seeded split).
    split : None, or (train indices, validation indices) into the data's structures, replacing the seeded
        split; training indices may repeat (a bootstrap resample, as committee members use).
    device : "cpu" or "cuda"; dtype : "float32" or "float64".
    resume : continue an interrupted run from ``out_dir/checkpoint.pt``.
    bond_edges : "none" (default), "covalent" or "topology": bond-typed edge attributes
        (:mod:`surrogate.egnn.bonds`); the bonds come from the first frame's covalent radii or
        from ``topology`` (an MDTraj Topology or a file such as a PDB; default: the data file's
        own topology where its format carries one). All frames must be one system. The model
        file stores the rule, not the bonds. On GFN2-xTB aspirin they lowered the held-out force
        MAE by 20-29% with a 3-minute budget and by 5-7% with 6 minutes (table in
        :mod:`surrogate.egnn.bonds`).

    Metrics per epoch go to ``metrics.csv`` (``train_``/``val_`` energy_mae eV/atom,
    energy_mae_structure eV, force_mae, force_rmse eV/Å, stress_mae eV/Å³ when fitted).
    """
    bond_edges = check_bond_rule(bond_edges)
    graphs = _graphs(data, cutoff)
    if bond_edges != "none":
        if bond_edges == "topology" and topology is None:
            topology = _own_topology(data)
        graphs, _ = annotate_graphs(graphs, bond_edges, topology,
                                    os.fspath(data) if isinstance(data, (str, os.PathLike)) else "training data")
    with_stress = has_stress(graphs)
    if stress_weight is None:
        stress_weight = DEFAULT_STRESS_WEIGHT if with_stress else 0.0
    elif stress_weight > 0 and not with_stress:
        n = sum(getattr(g, "stress", None) is None for g in graphs)
        raise InputError(f"stress_weight={stress_weight} but {n} of {len(graphs)} training structures have no "
                         "stress or are not periodic along all three axes; give stresses or --stress-weight 0")
    if stress_weight == 0 and any(getattr(g, "stress", None) is not None for g in graphs):
        graphs = without_stress(graphs)
    if split is None:
        train_idx, val_idx = _split(len(graphs), val_fraction, seed)
    else:
        train_idx, val_idx = _given_split(split, len(graphs))
    train_set = [graphs[k] for k in train_idx]
    val_set = [graphs[k] for k in val_idx]

    species = sorted({int(z) for g in graphs for z in g.numbers.tolist()})
    n_edges = sum(g.edge_index.shape[1] for g in train_set)
    n_nodes = sum(g.num_nodes for g in train_set)
    torch.manual_seed(seed)
    radii = _repulsion_radii(species, graphs) if pair_repulsion == "zbl" else None
    model = EGNNEnergyModel(species, cutoff, hidden=hidden, layers=layers, envelope=envelope,
                            avg_num_neighbors=max(n_edges / max(n_nodes, 1), 1.0), pair_repulsion=pair_repulsion,
                            repulsion_radii=radii, bond_edges=bond_edges, dtype=resolve_dtype(dtype))
    model.trained_on_stress = stress_weight > 0
    counts = _species_counts(model, train_set)
    model.fit_normalisation(counts, np.array([float(g.energy) for g in train_set]),
                            np.concatenate([g.forces.numpy() for g in train_set]))
    training_hash = _training_hash(train_set)

    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, lr_factor=lr_factor,
                         lr_patience=lr_patience, early_stopping_patience=early_stopping_patience,
                         grad_clip=grad_clip, seed=seed, device=device, out_dir=str(out_dir), progress=progress,
                         ema_decay=ema_decay,
                         time_budget_s=None if time_budget_min is None else 60.0 * float(time_budget_min))
    trainer = Trainer(model, make_loss_fn(energy_weight, force_weight, stress_weight), train_set, val_set, config,
                      save_fn=lambda m, path: save_egnn(m, path, training_hash))
    try:
        result = trainer.fit(resume=resume)
        if result["best_epoch"] >= 0:
            # The model now holds the best (averaged) weights: remove its mean energy error on the training set.
            recentre_energy(model, train_set, counts, batch_size)
            if trainer.context.is_main:
                save_egnn(model, trainer.best_path, training_hash)
    finally:
        trainer.close()
    return pathlib.Path(out_dir) / BEST_NAME



def _repulsion_radii(species: list[int], graphs) -> list[list[float]]:
    """Per pair of species, the closest approach (Å) in ``graphs`` (covalent radii sum where never seen)."""
    from .repulsion import closest_approach, covalent_radii_sum

    index = {z: k for k, z in enumerate(species)}

    def edges():
        for g in graphs:
            sp = torch.as_tensor([index[int(z)] for z in g.numbers.tolist()])
            pos = g.pos.to(torch.float64)
            cell = g.cell.reshape(3, 3).to(torch.float64) if getattr(g, "cell", None) is not None else torch.zeros(3, 3)
            vec = pos[g.edge_index[1]] - pos[g.edge_index[0]] + g.shifts.to(torch.float64) @ cell
            yield sp, g.edge_index, vec.norm(dim=1)

    seen = closest_approach(len(species), edges())
    default = covalent_radii_sum(species)
    return [[seen[a][b] if seen[a][b] is not None else default[a][b] for b in range(len(species))]
            for a in range(len(species))]


def _own_topology(data):
    """The topology a data file carries itself (PDB, H5, ...), or None (extxyz, in-memory data)."""
    if not isinstance(data, (str, os.PathLike)):
        return None
    from systems.trajectory_io.formats import MDTRAJ_WITH_TOPOLOGY, detect_format

    try:
        library, fmt = detect_format(os.fspath(data))
    except InputError:
        return None
    return os.fspath(data) if library == "mdtraj" and fmt in MDTRAJ_WITH_TOPOLOGY else None


def _species_counts(model: EGNNEnergyModel, graphs) -> np.ndarray:
    """[n_structures, n_species] atoms of each of the model's species per structure."""
    return np.stack([np.bincount(model.species_index(g.numbers).cpu().numpy(), minlength=len(model.species))
                     for g in graphs])


def predict_energies(model: EGNNEnergyModel, graphs: Sequence, batch_size: int = 8) -> np.ndarray:
    """Structure energies [n_structures] eV of ``model`` on graphs (no forces; no autograd)."""
    from torch_geometric.data import Batch

    out = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for k in range(0, len(graphs), batch_size):
            batch = Batch.from_data_list([without_stress([g])[0] for g in graphs[k : k + batch_size]])
            device, dtype = model.device, model.dtype
            cell = batch.cell.to(device, dtype).reshape(-1, 3, 3)
            b = batch.batch.to(device)
            bonded = getattr(batch, "edge_bonded", None)
            atom_e = model(model.species_index(batch.numbers), batch.pos.to(device, dtype),
                           batch.edge_index.to(device), batch.shifts.to(device), cell, b,
                           None if bonded is None else bonded.to(device))
            out.append(model.structure_energy(atom_e, b, cell.shape[0]).double().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out)


def recentre_energy(model: EGNNEnergyModel, graphs: Sequence, counts: np.ndarray | None = None,
                    batch_size: int = 8) -> np.ndarray:
    """Shift the model's reference energies so its mean signed energy error on ``graphs`` is zero.

    The residuals E − Ê of the structures are fitted per composition like the reference
    energies themselves (:func:`composition_reference`); forces do not change. Returns the
    shift [n_species] eV/atom that was added.
    """
    counts = _species_counts(model, graphs) if counts is None else counts
    residual = np.array([float(g.energy) for g in graphs]) - predict_energies(model, graphs, batch_size)
    delta = composition_reference(counts, residual)
    model.shift_reference_energies(delta)
    return delta


def evaluate_errors(model: EGNNEnergyModel, graphs: Sequence, batch_size: int = 8, *,
                    baseline_graphs: Sequence | None = None) -> dict:
    """Energy, force (and stress) errors of ``model`` on graphs with reference data.

    Returns energy MAE per structure (``energy_mae_eV``) and per atom (``energy_mae_eV_per_atom``),
    the mean signed energy error (``energy_mean_error_eV``, a constant offset shows here),
    force MAE / RMSE (eV/Å), stress MAE (``stress_mae_eV_per_A3``, over the 9 components) where
    every graph has a stress, and the baseline of a model that predicts the mean:
    ``mean_predictor_energy_mae_eV`` (and per atom) with energies from the per-composition
    reference fitted to ``baseline_graphs`` (the training set; default ``graphs`` themselves),
    which for a single composition is the mean energy; ``energy_mae_ratio`` is the model's
    energy MAE over it (below 1: better than the mean).
    """
    from torch_geometric.data import Batch

    stress = has_stress(graphs)
    e_err, f_err, s_err = [], [], []
    model.eval()
    for k in range(0, len(graphs), batch_size):
        chunk = list(graphs[k : k + batch_size])
        batch = Batch.from_data_list(chunk if stress else without_stress(chunk))
        out = energy_forces_stress(model, batch, stress=stress)
        e_err.append((out.energy.detach().double().cpu() - batch.energy).numpy())
        f_err.append((out.forces.detach().double().cpu() - batch.forces).numpy().ravel())
        if stress:
            s_err.append((out.stress.detach().double().cpu() - batch.stress.reshape(-1, 3, 3)).numpy().ravel())
    e_err, f_err = np.concatenate(e_err), np.concatenate(f_err)
    n_atoms = np.array([g.num_nodes for g in graphs], dtype=np.float64)
    energies = np.array([float(g.energy) for g in graphs])
    base = list(graphs) if baseline_graphs is None else list(baseline_graphs)
    e_ref = composition_reference(_species_counts(model, base), np.array([float(g.energy) for g in base]))
    baseline_err = energies - _species_counts(model, graphs) @ e_ref
    result = {
        "energy_mae_eV": float(np.abs(e_err).mean()),
        "energy_mae_eV_per_atom": float(np.abs(e_err / n_atoms).mean()),
        "energy_mean_error_eV": float(e_err.mean()),
        "mean_predictor_energy_mae_eV": float(np.abs(baseline_err).mean()),
        "mean_predictor_energy_mae_eV_per_atom": float(np.abs(baseline_err / n_atoms).mean()),
        "force_mae_eV_per_A": float(np.abs(f_err).mean()),
        "force_rmse_eV_per_A": float(np.sqrt((f_err**2).mean())),
    }
    result["energy_mae_ratio"] = result["energy_mae_eV"] / max(result["mean_predictor_energy_mae_eV"], 1e-300)
    if stress:
        s_err = np.concatenate(s_err)
        result["stress_mae_eV_per_A3"] = float(np.abs(s_err).mean())
    return result
