"""Fine-tuning a committee's members in place on their original data plus newly labelled frames.

Used by the on-the-fly fallback (:mod:`surrogate.fallback`, ``--retrain-every``) and active learning
(:mod:`surrogate.learn`). Each member starts from its current weights (its energy normalisation is kept)
and runs a few epochs of the shared :class:`~surrogate.training.trainer.Trainer`, seeded per member and
version, so the same inputs give the same weights bit for bit on one thread. The time cap is the one
exception: an epoch cut off by it depends on the machine's speed (the cut is reported).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from systems.errors import InputError


@dataclass
class RetrainSettings:
    """How a member is fine-tuned.

    epochs : passes over (original + labelled) frames; lr : Adam learning rate;
    batch_size : structures per step; energy_weight, force_weight : loss weights (no stress term);
    seed : base seed (member k of version v uses seed + 1000 v + k);
    time_budget_s : wall-clock cap per member (None: none); device : torch device.
    """

    epochs: int = 5
    lr: float = 1e-3
    batch_size: int = 4
    energy_weight: float = 1.0
    force_weight: float = 10.0
    seed: int = 0
    time_budget_s: float | None = 300.0
    device: str = "cpu"

    def check(self) -> "RetrainSettings":
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise InputError(f"retraining needs epochs ≥ 1, batch size ≥ 1 and lr > 0; got {self.epochs}, "
                             f"{self.batch_size}, {self.lr}")
        return self


def finetune_member(path, frames, out_dir, settings: RetrainSettings, seed: int) -> tuple[Path, bool]:
    """Fine-tune the EGNN model file ``path`` on ``frames`` (Frames with energy eV and forces eV/Å);
    writes ``out_dir/best.pt`` and returns ``(its path, whether the time cap cut training short)``.

    Every frame trains; the last ``max(1, len/10)`` frames (the newest labels, when ``frames`` ends with
    them) also select the best epoch.
    """
    import torch

    from .egnn.data import graphs_from_frames
    from .egnn.train import load_egnn, make_loss_fn, save_egnn
    from .training.trainer import TrainConfig, Trainer

    model = load_egnn(path)
    if getattr(model, "bond_edges", "none") != "none":
        raise InputError(f"{path}: retraining a model with bond-typed edges is not supported")
    graphs = graphs_from_frames(frames, model.cutoff, source=f"retraining data of {path}")
    for g in graphs:  # the loss has no stress term here
        if hasattr(g, "stress"):
            del g.stress
    n_val = max(1, len(graphs) // 10)
    out_dir = Path(out_dir)
    config = TrainConfig(max_epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                         lr_patience=settings.epochs, early_stopping_patience=settings.epochs + 1, seed=seed,
                         device=settings.device, out_dir=str(out_dir), progress=False, ema_decay=0.0,
                         time_budget_s=settings.time_budget_s)
    for p in model.parameters():
        p.requires_grad_(True)
    trainer = Trainer(model, make_loss_fn(settings.energy_weight, settings.force_weight, 0.0), graphs,
                      graphs[-n_val:], config, save_fn=lambda m, p: save_egnn(m, p))
    try:
        result = trainer.fit(resume=False)
    finally:
        trainer.close()
    with torch.no_grad():
        best = save_egnn(model, out_dir / "best.pt")
    return Path(best), bool(result["stopped_by_time_budget"])


def finetune_committee(member_paths, frames, out_dir, settings: RetrainSettings, version: int) -> tuple[list[Path], bool]:
    """Fine-tune every member (see :func:`finetune_member`) into ``out_dir/member<k>/best.pt``; returns the
    new paths and whether any member was cut short by the time cap."""
    settings.check()
    frames = list(frames)
    if len(frames) < 2:
        raise InputError(f"retraining needs at least 2 labelled frames, got {len(frames)}")
    paths, capped = [], False
    for k, path in enumerate(member_paths):
        new, cut = finetune_member(path, frames, Path(out_dir) / f"member{k}", settings,
                                   seed=settings.seed + 1000 * int(version) + k)
        paths.append(new)
        capped = capped or cut
    if capped:
        print(f"retraining {out_dir}: the time cap of {settings.time_budget_s:g} s per member cut training "
              "short (a resumed run may then differ from an uninterrupted one)", file=sys.stderr)
    return paths, capped
