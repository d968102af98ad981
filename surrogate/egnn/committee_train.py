"""Train an EGNN committee: K members on bootstrap resamples of one training set, into one model file.

>>> path = train_committee("aspirin.extxyz", "runs/committee", members=4, workers=2, time_budget_min=5)
>>> provider = EGNNForceProvider(path)          # mean forces + ForceResult.uncertainty

Every member sees the same validation structures (the split ``surrogate train egnn`` would make
with ``seed``) and trains on its own bootstrap resample of the remaining training structures
(drawn with replacement, as many as there are, from ``np.random.default_rng([seed, k])``), with
its own initialisation and shuffling seed ``seed + k``. Each member is an ordinary
:func:`~surrogate.egnn.train.train_egnn` run in ``OUT/member<k>/`` (best.pt, metrics.csv,
checkpoint.pt); a finished member leaves ``OUT/member<k>/member.json``. The members are then
gathered into ``OUT/committee.pt`` (:mod:`surrogate.egnn.committee`).

Parallelism: with ``workers >= 2`` the members train in that many spawned processes, one torch
thread each (on a CPU, K members on K free cores take about the wall time of one); otherwise one
after another in this process. ``time_budget_min`` applies to each member.

Resume (``resume=True``): members with a ``member.json`` written for the same resample are kept
as they are; an interrupted member continues from its own checkpoint; the others start.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import numpy as np

from systems.atomic_file import atomic_write_text
from systems.errors import InputError

#: File name of the committee model file in the output directory.
COMMITTEE_NAME = "committee.pt"
#: Marker a finished member leaves in its directory.
MEMBER_DONE = "member.json"


def member_indices(train_idx: np.ndarray, k: int, seed: int, bootstrap: bool = True) -> np.ndarray:
    """Training indices of member ``k``: a sorted bootstrap resample of ``train_idx`` (with replacement,
    the same size, rng ``default_rng([seed, k])``), or ``train_idx`` itself without ``bootstrap``."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if not bootstrap:
        return train_idx.copy()
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(k)])
    return np.sort(rng.choice(train_idx, size=len(train_idx), replace=True))


def train_committee(data, out_dir, members: int = 4, *, seed: int = 0, val_fraction: float = 0.1,
                    bootstrap: bool = True, workers: int = 1, resume: bool = False, progress: bool = True,
                    cutoff: float = 5.0, bond_edges: str = "none", topology=None, **train_kwargs) -> pathlib.Path:
    """Train ``members`` EGNN models (see the module docstring) and return the committee file's path.

    data : as for :func:`~surrogate.egnn.train.train_egnn` (a trajectory path, Frames, ase.Atoms or graphs).
    out_dir : receives ``committee.pt`` and ``member<k>/`` per member.
    members : K ≥ 1; seed : base seed (split, resamples, member seeds ``seed + k``);
    val_fraction : share of structures held out, the same for all members;
    bootstrap : resample each member's training structures (else all members see the same ones);
    workers : processes training members at once (1: sequential in this process);
    resume : keep finished members and continue interrupted ones;
    cutoff Å, bond_edges, topology and ``train_kwargs`` (hidden, layers, max_epochs, time_budget_min,
    dtype, ...): passed to every member's ``train_egnn``.
    """
    from .train import _graphs, _own_topology, _split

    members = int(members)
    if members < 1:
        raise InputError(f"train_committee: `members` must be >= 1, got {members}")
    workers = max(1, min(int(workers), members))
    if bond_edges == "topology" and topology is None:
        topology = _own_topology(data)
    graphs = _graphs(data, cutoff)
    train_idx, val_idx = _split(len(graphs), val_fraction, seed)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    common = dict(train_kwargs, cutoff=cutoff, bond_edges=bond_edges, topology=topology)
    jobs = []
    for k in range(members):
        idx = member_indices(train_idx, k, seed, bootstrap)
        member_dir = out_dir / f"member{k}"
        plan = {"member": k, "seed": seed + k, "bootstrap": bool(bootstrap),
                "train_indices": idx.tolist(), "val_indices": val_idx.tolist()}
        if _finished(member_dir, plan, resume):
            print(f"committee member {k}: kept (finished in an earlier run)", file=sys.stderr)
            continue
        jobs.append((k, member_dir, plan))
    # Workers re-read a path themselves; in-memory data travels to them pickled.
    payload = data if workers > 1 and isinstance(data, (str, os.PathLike)) else graphs
    if workers > 1 and len(jobs) > 1:
        _run_parallel(jobs, payload, common, resume, min(workers, len(jobs)))
    else:
        for k, member_dir, plan in jobs:
            _train_member(k, member_dir, plan, graphs, common, resume, progress)
    return gather(out_dir, members, info={"seed": seed, "bootstrap": bool(bootstrap), "val_fraction": val_fraction,
                                          "n_structures": len(graphs), "n_validation": len(val_idx)})


def gather(out_dir, members: int, info: dict | None = None) -> pathlib.Path:
    """Gather ``out_dir/member<k>/best.pt`` (k < members) into ``out_dir/committee.pt``; returns its path."""
    from surrogate.model_file import load_model_file

    from .committee import save_committee
    from .train import load_egnn

    out_dir = pathlib.Path(out_dir)
    models, hashes = [], []
    for k in range(members):
        path = out_dir / f"member{k}" / "best.pt"
        if not path.is_file():
            raise InputError(f"committee member {k}: {path} does not exist (no epoch finished; give it more epochs "
                             "or time)")
        models.append(load_egnn(path))
        hashes.append(load_model_file(path)[0].get("training_data_hash"))
    return save_committee(models, out_dir / COMMITTEE_NAME, hashes, info)


def _finished(member_dir: pathlib.Path, plan: dict, resume: bool) -> bool:
    """Whether ``member_dir`` holds a member finished for exactly ``plan`` (only looked at with ``resume``)."""
    marker = member_dir / MEMBER_DONE
    if not resume:
        if marker.exists():
            marker.unlink()  # a fresh run retrains: the old member is not this run's
        return False
    if not marker.is_file() or not (member_dir / "best.pt").is_file():
        return False
    try:
        done = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if done != plan:
        raise InputError(f"{marker}: committee member {plan['member']} was trained on another resample, seed or "
                         "split than this run asks for (other data, --seed, --val-fraction or bootstrap); use a "
                         "new --out or leave out --resume")
    return True


def _train_member(k: int, member_dir: pathlib.Path, plan: dict, data, common: dict, resume: bool,
                  progress: bool) -> int:
    """Train member ``k`` into ``member_dir`` and mark it finished; returns k."""
    from .train import train_egnn

    train_egnn(data, member_dir, seed=plan["seed"], split=(plan["train_indices"], plan["val_indices"]),
               resume=resume, progress=progress, **common)
    atomic_write_text(member_dir / MEMBER_DONE, json.dumps(plan))
    print(f"committee member {k}: trained ({member_dir / 'best.pt'})", file=sys.stderr)
    return k


def _init_worker() -> None:
    """One thread per member process (torch, Numba, BLAS): the members themselves are the parallelism."""
    from surrogate.threads import apply_threads

    apply_threads(1)


def _run_parallel(jobs, data, common: dict, resume: bool, workers: int) -> None:
    """Train ``jobs`` in ``workers`` spawned processes (spawn: no forked torch or Numba thread state)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker) as pool:
        futures = [pool.submit(_train_member, k, member_dir, plan, data, common, resume, False)
                   for k, member_dir, plan in jobs]
        for future in futures:
            future.result()  # re-raises a member's error here, naming nothing else lost: finished members stay
