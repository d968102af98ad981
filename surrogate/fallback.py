"""On-the-fly fallback: a committee surrogate where it agrees with itself, the reference where it does not.

:class:`FallbackProvider` is a force provider (``integrators.protocols.ForceProvider``). Each new
configuration is first evaluated by the uncertainty-aware surrogate (a committee filling
``ForceResult.uncertainty``); when its ``max_force_std`` exceeds ``max_force_std`` (eV/Å) the reference is
evaluated instead, its result is returned (with the committee's uncertainty attached), and the frame with
the reference's energy, forces (and stress) is appended to a :class:`~surrogate.labelled_set.LabelledSet`.
With ``retrain_every=M`` and a :class:`CommitteeRetrainer`, every M new labelled frames fine-tune the
committee (original data + all labelled frames) into new model files, and the run continues with them.

Checkpoints (``state_dict``) hold the counters, the labelled-frame count, the committee version (whose
model files stay on disk under their own names) and the providers' neighbor-list references, so a run
killed at any moment and resumed from its checkpoint repeats the uninterrupted run bit for bit (one
thread, deterministic torch; see :mod:`surrogate.retrain` for the time cap's caveat).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from integrators.provider_state import load_provider_state, provider_state_dict
from systems.errors import InputError
from systems.forces import ForceResult

from .labelled_set import LabelledSet


class CommitteeRetrainer:
    """Makes committee version v: version 0 is the committee given (``base``: anything
    :func:`~surrogate.member_committee.committee_paths` accepts); version v ≥ 1 is the committee file
    ``out_dir/v<v>.pt``, fine-tuned from version v−1 on ``base_frames`` + the labelled frames.

    base_frames : the committee's original training frames (list of Frames), or () to fine-tune on the
        labelled frames only.
    settings : :class:`~surrogate.retrain.RetrainSettings`.
    """

    def __init__(self, base, base_frames, out_dir, settings, *, device="cpu", dtype=None):
        from .member_committee import committee_paths

        self.base = committee_paths(base)
        self.base_frames = list(base_frames)
        self.out_dir = Path(out_dir)
        self.settings = settings.check()
        self.device, self.dtype = device, dtype
        self.capped = 0  # retrains cut short by the time cap

    def path(self, version: int) -> Path:
        return self.out_dir / f"v{version:03d}.pt"

    def members(self, version: int) -> list:
        """Freshly loaded members of ``version``."""
        from .member_committee import load_members

        if version == 0:
            return load_members(self.base, self.device, self.dtype)
        if not self.path(version).is_file():
            raise InputError(f"committee version {version}: model file {self.path(version)} is missing (the "
                             "checkpoint refers to a retrained committee that is no longer on disk)")
        return load_members([self.path(version)], self.device, self.dtype)

    def retrain(self, version: int, labelled_frames) -> list:
        """Fine-tune version ``version − 1`` into ``version`` (written to :meth:`path`); returns its members."""
        from .retrain import finetune_committee

        models, capped = finetune_committee(self.members(version - 1), self.base_frames + list(labelled_frames),
                                            self.path(version), self.settings, version)
        self.capped += int(capped)
        return models


class FallbackProvider:
    """Committee forces below a threshold of disagreement, reference forces above it.

    surrogate : provider whose ``ForceResult.uncertainty`` holds ``max_force_std`` (eV/Å).
    reference : any force provider (e.g. :func:`surrogate.reference.reference_provider`).
    max_force_std : float, eV/Å: a configuration with a larger committee force spread goes to the reference.
    labelled : :class:`LabelledSet` receiving every reference frame, or None.
    reference_stress : also ask the reference for the stress of labelled frames (periodic cells).
    retrain_every : int or None: fine-tune after this many new labelled frames (needs ``retrainer``).
    retrainer : :class:`CommitteeRetrainer` (or anything with ``retrain(version, frames)`` and
        ``members(version)`` returning EGNN members; the surrogate then needs ``set_models``).
    """

    def __init__(self, surrogate, reference, max_force_std: float, *, labelled: LabelledSet | None = None,
                 reference_stress: bool = False, retrain_every: int | None = None, retrainer=None,
                 name: str = "fallback"):
        if not max_force_std > 0:
            raise InputError(f"--max-force-std must be > 0 eV/Å, got {max_force_std!r}")
        if retrain_every is not None and (retrain_every < 1 or retrainer is None or labelled is None):
            raise InputError("--retrain-every needs a positive count, a committee of model files and a labelled set")
        self.surrogate = surrogate
        self.reference = reference
        self.max_force_std = float(max_force_std)
        self.labelled = labelled
        self.reference_stress = bool(reference_stress)
        self.retrain_every = retrain_every
        self.retrainer = retrainer
        self.name = name
        self.evaluations = 0  # distinct configurations evaluated
        self.reference_calls = 0
        self.since_retrain = 0  # labelled frames since the last retrain
        self.version = 0  # committee version (0: the one given)
        self._last = None  # (positions, cell, result): a repeat request for the same state is not a new call

    @property
    def cutoff(self):
        return getattr(self.surrogate, "cutoff", None)

    @property
    def model(self):
        return getattr(self.surrogate, "model", None)

    # ------------------------------------------------------------------ forces
    def _cached(self, system, stress: bool):
        """The last result when ``system`` is the configuration evaluated last (the driver's start-up check, an
        initial report asking for the stress): the same configuration is not a new call nor a new label."""
        if self._last is None:
            return None
        positions, cell, result, source = self._last
        if not (np.array_equal(positions, system.positions) and np.array_equal(cell, system.cell)):
            return None
        if stress and result.stress is None:  # the same provider again, now with the stress
            again = source.compute(system, stress=True)
            result = result._replace(stress=again.stress)
            self._last = (positions, cell, result, source)
        return result

    def compute(self, system, stress: bool = False) -> ForceResult:
        hit = self._cached(system, stress)
        if hit is not None:
            return hit
        result = self.surrogate.compute(system, stress=stress)
        u = result.uncertainty
        if u is None or "max_force_std" not in u:
            raise InputError(f"{self.name}: the surrogate returns no committee uncertainty (max_force_std); "
                             "--max-force-std needs a committee model")
        self.evaluations += 1
        source = self.surrogate
        if float(u["max_force_std"]) > self.max_force_std:
            source = self.reference
            result = self._reference(system, stress, u)
        self._last = (system.positions.copy(), system.cell.copy(), result, source)
        return result

    def _reference(self, system, stress: bool, uncertainty: dict) -> ForceResult:
        want_stress = stress or (self.reference_stress and bool(np.all(system.pbc)) and system.volume > 0)
        calc = getattr(self.reference, "calc", None)
        if callable(getattr(calc, "reset", None)):
            # An ASE calculator keeps a neighbor list (EMT) or a wavefunction guess (xTB) from its last call,
            # which changes the last bits of the next one: start each call afresh, so a label is a function of
            # the configuration alone and a resumed run repeats the uninterrupted one.
            calc.reset()
        ref = self.reference.compute(system, stress=want_stress)
        self.reference_calls += 1
        if self.labelled is not None:
            self.labelled.append(system, ref)
            self.since_retrain += 1
            if self.retrain_every is not None and self.since_retrain >= self.retrain_every:
                self._retrain()
        return ForceResult(ref.energy, ref.forces, ref.stress if stress else None, ref.energies, uncertainty)

    def _retrain(self) -> None:
        version = self.version + 1
        print(f"{self.name}: retraining the committee on {self.labelled.count} labelled frames "
              f"(version {version})", file=sys.stderr)
        # The frames are read back from the file, as a resumed run reads them: both train on the same numbers.
        self._set_members(self.retrainer.retrain(version, self.labelled.frames()))
        self.version = version
        self.since_retrain = 0

    def _set_members(self, models) -> None:
        """Continue with ``models``: the provider keeps its neighbor list, so the force sums keep their order."""
        for m in models:
            m._warned_stress = True  # warned once for the committee the run started with
        self.surrogate.set_models(models)

    # ----------------------------------------------------------------- report
    @property
    def reference_fraction(self) -> float:
        return self.reference_calls / self.evaluations if self.evaluations else 0.0

    def thermo_fields(self) -> dict[str, float]:
        """Columns for the thermo log: cumulative reference calls and their fraction of evaluations."""
        return {"reference_calls": float(self.reference_calls), "reference_fraction": self.reference_fraction}

    def summary(self) -> dict:
        return {"evaluations": self.evaluations, "reference_calls": self.reference_calls,
                "reference_fraction": self.reference_fraction, "max_force_std_eV_A": self.max_force_std,
                "labelled_frames": self.labelled.count if self.labelled is not None else None,
                "labelled_set": str(self.labelled.path) if self.labelled is not None else None,
                "committee_version": self.version,
                "retrains_cut_by_time_cap": getattr(self.retrainer, "capped", 0)}

    def summary_line(self) -> str:
        s = self.summary()
        text = (f"fallback: {s['reference_calls']} reference calls in {s['evaluations']} force evaluations "
                f"({100 * s['reference_fraction']:.2f} %) above max force std {self.max_force_std:g} eV/Å")
        if self.labelled is not None:
            text += f"; {s['labelled_frames']} labelled frames in {self.labelled.path}"
        if self.version:
            text += f"; committee retrained {self.version} time(s)"
        return text

    # ------------------------------------------------------------- checkpoint
    def state_dict(self) -> dict:
        return {"evaluations": self.evaluations, "reference_calls": self.reference_calls,
                "since_retrain": self.since_retrain, "version": self.version,
                "labelled": self.labelled.count if self.labelled is not None else 0,
                "surrogate": provider_state_dict(self.surrogate),
                "reference": provider_state_dict(self.reference)}

    def load_state_dict(self, state: dict) -> None:
        version = int(state["version"])
        if version != self.version:
            if self.retrainer is None:
                raise ValueError(f"the checkpoint's committee is version {version}; resume with --retrain-every")
            self._set_members(self.retrainer.members(version))
            self.version = version
        if self.labelled is not None:
            self.labelled.truncate(int(state["labelled"]))
        self.evaluations = int(state["evaluations"])
        self.reference_calls = int(state["reference_calls"])
        self.since_retrain = int(state["since_retrain"])
        self._last = None
        load_provider_state(self.surrogate, state.get("surrogate"))
        load_provider_state(self.reference, state.get("reference"))
