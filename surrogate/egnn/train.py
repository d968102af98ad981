"""Train an EGNN energy model on energies and forces, and load it back from its model file.

>>> path = train_egnn("cu_emt.extxyz", "runs/cu", cutoff=5.0, max_epochs=200)
>>> model = load_egnn(path)

The loss per batch is

    L = energy_weight · mean_s((E_s − Ê_s) / n_s)² + force_weight · mean_{i,c}(F_ic − F̂_ic)²

in eV²/atom² and eV²/Å², with E_s the structure energy (eV) and n_s its atom count.
The training loop (Adam, plateau LR schedule, early stopping, clipping, CSV log,
best-model file, resume, torchrun data parallelism) is the shared
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
from .data import graphs_from_atoms, graphs_from_frames, load_graphs
from ..dtypes import resolve_dtype
from .model import EGNNEnergyModel

MODEL_KIND = "egnn"

#: Version of the EGNN architecture as stored in model files; files of another version are refused.
ARCHITECTURE_VERSION = 1

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


def _training_hash(graphs) -> str:
    return data_hash(*(t for g in graphs for t in (g.numbers, g.pos, g.cell, g.energy, g.forces)))


# --------------------------------------------------------------------------- loss
def make_loss_fn(energy_weight: float = 1.0, force_weight: float = 10.0):
    """``loss_fn(model, batch) -> (loss, metrics)`` for the shared Trainer (see module docstring).

    Metrics (batch means): ``energy_mae`` eV/atom, ``force_mae`` eV/Å, ``force_rmse`` eV/Å.
    """
    if energy_weight < 0 or force_weight < 0 or energy_weight + force_weight == 0:
        raise InputError(f"loss weights must be >= 0 and not both 0, got energy_weight={energy_weight}, "
                         f"force_weight={force_weight}")

    def loss_fn(model, batch):
        core = unwrap_model(model)
        out = energy_forces_stress(model, batch, training=core.training)
        n_atoms = torch.bincount(batch.batch.to(core.device), minlength=out.energy.shape[0]).to(core.dtype)  # [B]
        e_err = (out.energy - batch.energy.to(core.device, core.dtype)) / n_atoms  # [B] eV/atom
        f_err = out.forces - batch.forces.to(core.device, core.dtype)  # [n, 3] eV/Å
        loss = energy_weight * (e_err**2).mean() + force_weight * (f_err**2).mean()
        metrics = {
            "energy_mae": float(e_err.detach().abs().mean()),
            "force_mae": float(f_err.detach().abs().mean()),
            "force_rmse": float(f_err.detach().pow(2).mean().sqrt()),
        }
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
    if species is not None:
        try:
            model.species_index(species)
        except InputError as exc:
            raise ModelFileError(f"model file {path}: {exc}") from exc
    return model.to(device=torch.device(device), dtype=stored if dtype is None else resolve_dtype(dtype))


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
    }
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
        check.dim("architecture.n_radial", arch["n_radial"], "layers.0.edge_geometry.weight", 1, offset=1)
    context = ", ".join(f"{k}={v}" for k, v in arch.items() if k in ("hidden", "layers", "n_radial"))
    check.same_shapes(lambda: EGNNEnergyModel(**arch, dtype=dtype, device="meta"), context)
    return arch, dtype


# --------------------------------------------------------------------------- training
def train_egnn(data, out_dir, *, cutoff: float = 5.0, hidden: int = 64, layers: int = 4, envelope: str = "cosine",
               energy_weight: float = 1.0, force_weight: float = 10.0, max_epochs: int = 200, batch_size: int = 8,
               lr: float = 2e-3, lr_factor: float = 0.5, lr_patience: int = 10, early_stopping_patience: int = 30,
               grad_clip: float = 10.0, val_fraction: float = 0.1, seed: int = 0, device: str = "cpu",
               dtype: str = "float32", resume: bool = False, progress: bool = True) -> pathlib.Path:
    """Train an :class:`EGNNEnergyModel` and return the path of the best model file.

    data : a trajectory file with energies and forces (extxyz, .traj, ...), or a
        list of :class:`systems.frame.Frame`, ase.Atoms (with energies/forces) or graphs.
    out_dir : receives ``best.pt`` (the model file), ``metrics.csv`` and ``checkpoint.pt``.
    cutoff Å, hidden, layers, envelope : architecture.
    energy_weight, force_weight : loss weights (see module docstring).
    max_epochs, batch_size (structures), lr, lr_factor, lr_patience,
    early_stopping_patience, grad_clip : training loop (see ``TrainConfig``).
    val_fraction : share of structures held out for validation (seeded split).
    device : "cpu" or "cuda"; dtype : "float32" or "float64".
    resume : continue an interrupted run from ``out_dir/checkpoint.pt``.
    """
    graphs = _graphs(data, cutoff)
    train_idx, val_idx = _split(len(graphs), val_fraction, seed)
    train_set = [graphs[k] for k in train_idx]
    val_set = [graphs[k] for k in val_idx]

    species = sorted({int(z) for g in graphs for z in g.numbers.tolist()})
    n_edges = sum(g.edge_index.shape[1] for g in train_set)
    n_nodes = sum(g.num_nodes for g in train_set)
    torch.manual_seed(seed)
    model = EGNNEnergyModel(species, cutoff, hidden=hidden, layers=layers, envelope=envelope,
                            avg_num_neighbors=max(n_edges / max(n_nodes, 1), 1.0), dtype=resolve_dtype(dtype))
    counts = np.stack([np.bincount(model.species_index(g.numbers).numpy(), minlength=len(species))
                       for g in train_set])
    model.fit_normalisation(counts, np.array([float(g.energy) for g in train_set]),
                            np.concatenate([g.forces.numpy() for g in train_set]))
    training_hash = _training_hash(train_set)

    config = TrainConfig(max_epochs=max_epochs, batch_size=batch_size, lr=lr, lr_factor=lr_factor,
                         lr_patience=lr_patience, early_stopping_patience=early_stopping_patience,
                         grad_clip=grad_clip, seed=seed, device=device, out_dir=str(out_dir), progress=progress)
    trainer = Trainer(model, make_loss_fn(energy_weight, force_weight), train_set, val_set, config,
                      save_fn=lambda m, path: save_egnn(m, path, training_hash))
    try:
        trainer.fit(resume=resume)
    finally:
        trainer.close()
    return pathlib.Path(out_dir) / BEST_NAME


def evaluate_errors(model: EGNNEnergyModel, graphs: Sequence, batch_size: int = 8) -> dict:
    """Energy MAE (eV/atom) and force MAE / RMSE (eV/Å) of ``model`` on graphs with reference data."""
    from torch_geometric.data import Batch

    e_err, f_err = [], []
    model.eval()
    for k in range(0, len(graphs), batch_size):
        batch = Batch.from_data_list(list(graphs[k : k + batch_size]))
        out = energy_forces_stress(model, batch)
        n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).double()
        e_err.append(((out.energy.detach().double().cpu() - batch.energy) / n_atoms).numpy())
        f_err.append((out.forces.detach().double().cpu() - batch.forces).numpy().ravel())
    e_err, f_err = np.concatenate(e_err), np.concatenate(f_err)
    return {
        "energy_mae_eV_per_atom": float(np.abs(e_err).mean()),
        "force_mae_eV_per_A": float(np.abs(f_err).mean()),
        "force_rmse_eV_per_A": float(np.sqrt((f_err**2).mean())),
    }
