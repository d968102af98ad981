"""A committee of EGNN model files as one force provider: the members' mean, and their spread as
``ForceResult.uncertainty``.

The fallback (:mod:`surrogate.fallback`) and active learning (:mod:`surrogate.learn`) need a committee
whose members they can fine-tune one file at a time; this provider is that: K ordinary EGNN model files
(``surrogate train egnn`` output, one per member). ``committee_paths`` also opens a folder of members
or a comma-separated list.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from systems.errors import InputError
from systems.forces import ForceResult

from .egnn.provider import EGNNForceProvider


def committee_paths(spec) -> list[Path]:
    """Member model files of ``spec``: a list of paths, a folder (its ``*.pt`` files, sorted, or
    ``member*/best.pt``), or a comma-separated string of files. At least two members."""
    if isinstance(spec, (list, tuple)):
        paths = [Path(p) for p in spec]
    else:
        text = os.fspath(spec)
        if os.path.isdir(text):
            folder = Path(text)
            paths = sorted(folder.glob("*.pt")) or sorted(folder.glob("member*/best.pt"))
        else:
            paths = [Path(p) for p in text.split(",") if p]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"committee {spec}: no model file {missing[0]}")
    if len(paths) < 2:
        raise InputError(f"committee {spec}: needs at least 2 member model files, found {len(paths)}")
    return paths


def committee_stats(results: list[ForceResult], stress: bool) -> ForceResult:
    """The mean ForceResult of ``results`` (one per member) with ``uncertainty``: ``energy_std`` (eV, the
    population standard deviation over members), ``forces_std`` [n] (eV/Å, per atom the norm of the
    per-component standard deviations) and ``max_force_std`` (eV/Å)."""
    energies = np.array([r.energy for r in results])
    forces = np.stack([r.forces for r in results])  # [K, n, 3]
    per_atom = np.sqrt(forces.var(axis=0).sum(axis=1))
    mean_stress = np.mean([r.stress for r in results], axis=0) if stress else None
    atom_energies = (np.mean([r.energies for r in results], axis=0)
                     if all(r.energies is not None for r in results) else None)
    return ForceResult(float(energies.mean()), forces.mean(axis=0), mean_stress, atom_energies,
                       {"energy_std": float(energies.std()), "forces_std": per_atom,
                        "max_force_std": float(per_atom.max()) if len(per_atom) else 0.0})


class CommitteeProvider:
    """K EGNN members evaluated on the same System; returns their mean and spread (see :func:`committee_stats`).

    paths : member model files (or anything :func:`committee_paths` accepts).
    device, dtype : as for :class:`~surrogate.egnn.provider.EGNNForceProvider`.
    """

    def __init__(self, paths, device="cpu", dtype=None):
        self.paths = committee_paths(paths)
        self.members = [EGNNForceProvider(p, device=device, dtype=dtype) for p in self.paths]
        cutoffs = {m.cutoff for m in self.members}
        if len(cutoffs) != 1:
            raise InputError(f"committee members have different cutoffs {sorted(cutoffs)} Å; train them alike")
        self.name = f"EGNN committee of {len(self.members)} ({self.paths[0].parent})"

    @property
    def cutoff(self) -> float:
        return self.members[0].cutoff

    @property
    def model(self):
        """The first member's model (size estimates read its width)."""
        return self.members[0].model

    def compute(self, system, stress: bool = False) -> ForceResult:
        return committee_stats([m.compute(system, stress=stress) for m in self.members], stress)

    # Each member's neighbor-list build reference: a resumed run sums forces in the same order.
    def state_dict(self) -> dict:
        return {"members": [m.neighbor_list.state_dict() for m in self.members]}

    def load_state_dict(self, state: dict) -> None:
        saved = state["members"]
        if len(saved) != len(self.members):
            raise ValueError(f"checkpoint holds {len(saved)} committee members, the model {len(self.members)}")
        for member, nl in zip(self.members, saved):
            member.neighbor_list.load_state_dict(nl)
