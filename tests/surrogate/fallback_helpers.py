"""Small EMT copper data and tiny EGNN committees for the fallback and active-learning tests."""

from __future__ import annotations

from pathlib import Path


def emt_copper_frames(n: int, temperature_K: float = 600.0, seed: int = 0, repeat=(2, 1, 1), interval: int = 5):
    """``n`` frames of fcc Cu (8 atoms by default, periodic) from Langevin MD under ASE's EMT."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from surrogate.egnn.data import generate_frames

    atoms = bulk("Cu", cubic=True).repeat(repeat)
    return generate_frames(atoms, EMT(), temperatures_K=[temperature_K], frames_per_temperature=n,
                           interval_steps=interval, equilibration_steps=20, timestep_fs=2.0, seed=seed)


def tiny_committee(folder, frames, k: int = 2, epochs: int = 4, hidden: int = 8) -> list[Path]:
    """``k`` tiny EGNNs (cutoff 3.5 Å, one layer) trained on ``frames`` with seeds 0..k-1 and
    bootstrap resamples: member files ``folder/member<i>/best.pt``."""
    import numpy as np

    from surrogate.egnn.train import train_egnn

    paths = []
    for i in range(k):
        pick = np.random.default_rng(100 + i).integers(0, len(frames), len(frames))
        paths.append(train_egnn([frames[j] for j in pick], Path(folder) / f"member{i}", cutoff=3.5, hidden=hidden,
                                layers=1, max_epochs=epochs, batch_size=4, lr=5e-3, seed=i, ema_decay=0.0,
                                progress=False, stress_weight=0.0))
    return paths


def write_frames(frames, path) -> Path:
    """``frames`` (with energies and forces) as a full-precision extxyz file."""
    from systems.forces import ForceResult
    from systems.trajectory_writer import TrajectoryWriter

    with TrajectoryWriter(path) as writer:
        for f in frames:
            writer.write(f.to_system(), ForceResult(f.energy, f.forces))
    return Path(path)
