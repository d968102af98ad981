"""The MACE peer of ``benchmarks/reference_accuracy.py``: train, evaluate and time a MACE model (mace-torch's API).

The model is mace-torch's ``ScaleShiftMACE`` built as ``mace_run_train`` builds it (Bessel radial basis, polynomial
cutoff envelope, residual interaction blocks, correlation order 3, E0s from a least-squares fit of the training
energies, shift = mean interaction energy per atom, scale = RMS force). The loop is MACE's recipe under a wall-clock
budget instead of an epoch count: Adam (amsgrad, lr 0.01, weight decay 5e-7), loss
``energy_weight · mean(((E − Ê)/n)²) + forces_weight · mean((F − F̂)²) [+ stress_weight · mean((σ − σ̂)²)]``
with MACE's defaults 1 / 100 / 1, and MACE's second ("SWA") stage for the last 25 % of the budget (energy weight 1000,
lr 0.001); an exponential moving average of the weights (decay 0.99, MACE's ``--ema``) is the model that is
validated each epoch, and the best one on the validation frames is kept. float32, one thread (the caller sets it).

Units: Å, eV, eV/Å, eV/Å³ (ASE's). ``mace-torch`` is in the ``bench`` extra.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

#: mace-torch's keys for the reference values copied onto each ase.Atoms (``atoms.info`` / ``atoms.arrays``).
REF_ENERGY, REF_FORCES, REF_STRESS = "REF_energy", "REF_forces", "REF_stress"


@dataclass
class MaceConfig:
    """Architecture and training settings; the defaults are a small 'L=1' MACE (about 84k parameters for H, C, O)."""

    r_max: float = 5.0
    hidden_irreps: str = "32x0e+32x1o"
    mlp_irreps: str = "16x0e"
    num_interactions: int = 2
    max_ell: int = 3
    correlation: int = 3
    num_bessel: int = 8
    num_polynomial_cutoff: int = 5
    batch_size: int = 10
    lr: float = 0.01
    swa_lr: float = 1e-3
    weight_decay: float = 5e-7
    energy_weight: float = 1.0
    forces_weight: float = 100.0
    stress_weight: float = 1.0
    swa_energy_weight: float = 1000.0
    swa_fraction: float = 0.25
    ema_decay: float = 0.99
    seed: int = 0


def _quiet_imports():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mace  # noqa: F401  (first: it lets e3nn load its constants file under torch >= 2.6)
        from e3nn import o3
        from mace import data, modules, tools
        from mace.tools import torch_geometric
    return o3, data, modules, tools, torch_geometric


def _labelled(atoms_list, stress: bool) -> list:
    """Copies of ``atoms_list`` with the reference energy/forces(/stress) under mace-torch's REF_ keys."""
    out = []
    for atoms in atoms_list:
        a = atoms.copy()
        a.info[REF_ENERGY] = float(atoms.get_potential_energy())
        a.arrays[REF_FORCES] = np.asarray(atoms.get_forces(), dtype=np.float64)
        if stress:
            a.info[REF_STRESS] = np.asarray(atoms.get_stress(voigt=False), dtype=np.float64)
        a.calc = None
        out.append(a)
    return out


def _dataset(atoms_list, z_table, r_max: float, stress: bool) -> list:
    _, data, _, _, _ = _quiet_imports()
    info = {"energy": REF_ENERGY}
    if stress:
        info["stress"] = REF_STRESS
    keyspec = data.KeySpecification(info_keys=info, arrays_keys={"forces": REF_FORCES})
    configs = data.config_from_atoms_list(_labelled(atoms_list, stress), key_specification=keyspec)
    return [data.AtomicData.from_config(c, z_table=z_table, cutoff=r_max) for c in configs]


def build_mace(train_atoms, cfg: MaceConfig):
    """A ScaleShiftMACE (float32) fitted to the statistics of ``train_atoms``, and its atomic-number table."""
    o3, data, modules, tools, _ = _quiet_imports()
    zs = sorted({int(z) for a in train_atoms for z in a.numbers})
    z_table = tools.get_atomic_number_table_from_zs(zs)
    counts = np.array([[np.count_nonzero(a.numbers == z) for z in zs] for a in train_atoms], dtype=float)
    energies = np.array([a.get_potential_energy() for a in train_atoms])
    e0s = np.linalg.lstsq(counts, energies, rcond=None)[0]          # compute_average_E0s
    n_atoms = counts.sum(axis=1)
    shift = float(np.mean((energies - counts @ e0s) / n_atoms))
    scale = float(np.sqrt(np.mean(np.concatenate([np.asarray(a.get_forces()).ravel() for a in train_atoms]) ** 2)))
    sample = _dataset(train_atoms[: min(len(train_atoms), 50)], z_table, cfg.r_max, stress=False)
    avg_neighbors = float(np.mean([d.edge_index.shape[1] / d.num_nodes for d in sample]))
    torch.manual_seed(cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            r_max=cfg.r_max, num_bessel=cfg.num_bessel, num_polynomial_cutoff=cfg.num_polynomial_cutoff,
            max_ell=cfg.max_ell, interaction_cls=block, interaction_cls_first=block,
            num_interactions=cfg.num_interactions, num_elements=len(zs), hidden_irreps=o3.Irreps(cfg.hidden_irreps),
            MLP_irreps=o3.Irreps(cfg.mlp_irreps), atomic_energies=e0s, avg_num_neighbors=avg_neighbors,
            atomic_numbers=zs, correlation=cfg.correlation, gate=torch.nn.functional.silu,
            atomic_inter_scale=scale, atomic_inter_shift=shift)
    return model.float(), z_table


def _loss(out, batch, weights: tuple[float, float, float], stress: bool) -> torch.Tensor:
    e_w, f_w, s_w = weights
    n = (batch.ptr[1:] - batch.ptr[:-1]).to(out["energy"].dtype)
    loss = e_w * torch.mean(((batch.energy - out["energy"]) / n) ** 2)
    loss = loss + f_w * torch.mean((batch.forces - out["forces"]) ** 2)
    if stress:
        loss = loss + s_w * torch.mean((batch.stress - out["stress"]) ** 2)
    return loss


def _predict(model, loader, stress: bool):
    """Per-structure energies (eV), forces (eV/Å), stresses (eV/Å³): predicted and reference, float64 numpy."""
    pe, re_, pf, rf, ps, rs = [], [], [], [], [], []
    model.eval()
    for batch in loader:
        out = model(batch.to_dict(), training=False, compute_force=True, compute_stress=stress)
        pe.append(out["energy"].detach().double().numpy()); re_.append(batch.energy.double().numpy())  # noqa: E702
        pf.append(out["forces"].detach().double().numpy()); rf.append(batch.forces.double().numpy())  # noqa: E702
        if stress:
            ps.append(out["stress"].detach().double().numpy()); rs.append(batch.stress.double().numpy())  # noqa: E702
    cat = (lambda xs: np.concatenate(xs) if xs else None)
    return cat(pe), cat(re_), cat(pf), cat(rf), cat(ps), cat(rs)


def train_mace(train_atoms, val_atoms, budget_s: float, cfg: MaceConfig | None = None, stress: bool = False,
               log=print) -> tuple[torch.nn.Module, dict]:
    """Train a MACE model for ``budget_s`` seconds of training-loop wall time (an epoch that would overrun is not
    started, and one that overruns stops between batches at the budget; the last (partial) epoch is validated).
    Model construction and neighbour lists are timed apart (``setup_seconds``).

    Returns the EMA model that scored best on ``val_atoms`` under MACE's own loss, and a summary dict.
    """
    cfg = cfg or MaceConfig()
    _, _, _, _, torch_geometric = _quiet_imports()
    t_setup = time.perf_counter()
    model, z_table = build_mace(train_atoms, cfg)
    train_set = _dataset(train_atoms, z_table, cfg.r_max, stress)
    val_set = _dataset(val_atoms, z_table, cfg.r_max, stress)
    t0 = time.perf_counter()  # the budget counts the training loop; model and data set-up are reported apart
    setup_seconds = t0 - t_setup
    generator = torch.Generator().manual_seed(cfg.seed)
    train_loader = torch_geometric.dataloader.DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True,
                                                         drop_last=False, generator=generator)
    val_loader = torch_geometric.dataloader.DataLoader(val_set, batch_size=cfg.batch_size, shuffle=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, amsgrad=True, weight_decay=cfg.weight_decay)
    ema = copy.deepcopy(model)
    best_state, best_val, epochs, swa_started = None, float("inf"), 0, False
    weights = (cfg.energy_weight, cfg.forces_weight, cfg.stress_weight)
    epoch_time, partial_epoch = 0.0, False
    while True:
        elapsed = time.perf_counter() - t0
        if epochs and elapsed + epoch_time > budget_s:
            break
        if not swa_started and elapsed >= (1 - cfg.swa_fraction) * budget_s:
            swa_started = True
            weights = (cfg.swa_energy_weight, cfg.forces_weight, cfg.stress_weight)
            for group in optimizer.param_groups:
                group["lr"] = cfg.swa_lr
            best_val = float("inf")  # the stage changes the loss; select within it
        te = time.perf_counter()
        model.train()
        for batch in train_loader:
            if time.perf_counter() - t0 > budget_s:  # a long epoch stops at the budget, between batches
                partial_epoch = True
                break
            optimizer.zero_grad()
            out = model(batch.to_dict(), training=True, compute_force=True, compute_stress=stress)
            loss = _loss(out, batch, weights, stress)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), model.parameters()):
                    pe.mul_(cfg.ema_decay).add_(p, alpha=1 - cfg.ema_decay)
        pe_, re_, pf, rf, ps, rs = _predict(ema, val_loader, stress)
        n = np.array([len(a) for a in val_atoms], dtype=float)
        val = (weights[0] * np.mean(((pe_ - re_) / n) ** 2) + weights[1] * np.mean((pf - rf) ** 2)
               + (weights[2] * np.mean((ps - rs) ** 2) if stress else 0.0))
        if val < best_val:
            best_val, best_state = val, copy.deepcopy(ema.state_dict())
        epochs += 1
        epoch_time = time.perf_counter() - te
        log(f"  MACE epoch {epochs}: val loss {val:.4g}, force MAE {1e3 * np.abs(pf - rf).mean():.1f} meV/Å "
            f"({time.perf_counter() - t0:.0f} s)")
    ema.load_state_dict(best_state)
    ema.eval()
    summary = {"epochs": epochs, "train_seconds": time.perf_counter() - t0, "setup_seconds": setup_seconds,
               "swa_stage": swa_started, "last_epoch_cut_at_budget": partial_epoch,
               "parameters": int(sum(p.numel() for p in model.parameters())), "dtype": "float32",
               "config": cfg.__dict__.copy(), "z_table": [int(z) for z in z_table.zs]}
    return ema, summary


def evaluate_mace(model, test_atoms, r_max: float, stress: bool = False, batch_size: int = 10) -> dict:
    """Predicted and reference energies [S] (eV per structure), forces [N, 3] (eV/Å), stresses [S, 3, 3] (eV/Å³)."""
    _, _, _, tools, torch_geometric = _quiet_imports()
    zs = [int(z) for z in model.atomic_numbers.tolist()]
    z_table = tools.get_atomic_number_table_from_zs(zs)
    loader = torch_geometric.dataloader.DataLoader(_dataset(test_atoms, z_table, r_max, stress),
                                                   batch_size=batch_size, shuffle=False)
    pe, re_, pf, rf, ps, rs = _predict(model, loader, stress)
    return {"energy": pe, "energy_ref": re_, "forces": pf, "forces_ref": rf, "stress": ps, "stress_ref": rs}


def mace_calculator(model):
    """An ASE calculator (mace-torch's MACECalculator, float32) around a trained model object."""
    from mace.calculators import MACECalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MACECalculator(models=model, device="cpu", default_dtype="float32")
