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


def finetune_model(model, frames, work_dir, settings: RetrainSettings, seed: int) -> bool:
    """Fine-tune the EGNNEnergyModel ``model`` in place on ``frames`` (Frames with energy eV and forces eV/Å),
    with the trainer's files in ``work_dir``; returns whether the time cap cut training short.

    Every frame trains; the last ``max(1, len/10)`` frames (the newest labels, when ``frames`` ends with
    them) also select the best epoch, whose weights the model keeps.
    """
    from .egnn.data import graphs_from_frames
    from .egnn.train import make_loss_fn, save_egnn
    from .training.trainer import TrainConfig, Trainer

    if getattr(model, "bond_edges", "none") != "none":
        raise InputError("retraining a model with bond-typed edges is not supported")
    graphs = graphs_from_frames(frames, model.cutoff, source="retraining data")
    for g in graphs:  # the loss has no stress term here
        if hasattr(g, "stress"):
            del g.stress
    n_val = max(1, len(graphs) // 10)
    config = TrainConfig(max_epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr,
                         lr_patience=settings.epochs, early_stopping_patience=settings.epochs + 1, seed=seed,
                         device=settings.device, out_dir=str(work_dir), progress=False, ema_decay=0.0,
                         time_budget_s=settings.time_budget_s)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    trainer = Trainer(model, make_loss_fn(settings.energy_weight, settings.force_weight, 0.0), graphs,
                      graphs[-n_val:], config, save_fn=lambda m, p: save_egnn(m, p))
    try:
        result = trainer.fit(resume=False)
    finally:
        trainer.close()
    model.eval()
    return bool(result["stopped_by_time_budget"])


def finetune_committee(models, frames, path, settings: RetrainSettings, version: int) -> tuple[list, bool]:
    """Fine-tune every member (see :func:`finetune_model`; member k of version v seeded ``seed + 1000 v + k``)
    and write them as one committee file ``path``; returns the members and whether the time cap cut any short."""
    from .egnn.committee import save_committee

    settings.check()
    frames = list(frames)
    if len(frames) < 2:
        raise InputError(f"retraining needs at least 2 labelled frames, got {len(frames)}")
    path = Path(path)
    capped = False
    for k, model in enumerate(models):
        cut = finetune_model(model, frames, path.parent / f"{path.stem}-work" / f"member{k}", settings,
                             seed=settings.seed + 1000 * int(version) + k)
        capped = capped or cut
    save_committee(models, path, info={"fine_tuned": {"version": int(version), "frames": len(frames),
                                                      "epochs": settings.epochs, "lr": settings.lr}})
    if capped:
        print(f"retraining {path}: the time cap of {settings.time_budget_s:g} s per member cut training "
              "short (a resumed run may then differ from an uninterrupted one)", file=sys.stderr)
    return list(models), capped
