"""Active learning: grow a committee's training set where the committee disagrees with itself.

:func:`active_learning` starts from a small seed set of reference frames (given, or sampled here with
reference Langevin MD), trains a committee of K EGNNs on it (seeds and bootstrap resamples), then repeats:

1. MD with the committee (Langevin at ``temperature_K``, ``md_steps`` steps) recording every step's
   ``max_force_std`` (eV/Å); a run that blows up stops where it did;
2. pick uncertain frames: above ``threshold``, largest spread first, at least ``min_separation`` steps
   apart (correlated neighbours add little), at most ``picks_per_round``;
3. label them with the reference and append them to the labelled set;
4. fine-tune the committee on all labelled frames (:mod:`surrogate.retrain`).

It stops when a whole MD run stays at or below the threshold, or after ``max_rounds``. Each finished round
is recorded in ``learn_state.json`` (written atomically after the labelled set and the round's committee
are on disk), so a killed run resumes at the round it was in. Outputs in ``out``: ``labelled.extxyz``,
``committee.pt`` (the final committee file), ``learning_curve.json`` and ``learning_curve.png``
(held-out force MAE and cumulative reference calls per round).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from systems.atomic_file import atomic_write, atomic_write_text
from systems.errors import InputError

STATE = "learn_state.json"
CURVE_JSON = "learning_curve.json"
CURVE_PNG = "learning_curve.png"
LABELLED = "labelled.extxyz"
COMMITTEE = "committee.pt"


@dataclass
class LearnSettings:
    """Settings of :func:`active_learning` (units: K, fs, eV/Å, Å).

    threshold : max force std (eV/Å) above which a frame is labelled; md_steps : steps of each MD round;
    picks_per_round, min_separation (steps) : the selection; n_seed : seed frames labelled with the
    reference when none are given: ``seed_method`` "rattle" (the start structure with Gaussian displacements
    of ``seed_rattle`` Å × k/n_seed, one reference call per frame) or "md" (reference Langevin MD, a frame every
    ``seed_interval`` steps after ``seed_equilibration`` steps: every step is a reference call);
    committee_size, cutoff, hidden, layers, epochs, lr, batch_size : the first committee;
    retrain_epochs, retrain_lr : each later round's fine-tuning; seed : every RNG.
    """

    threshold: float = 0.1
    temperature_K: float = 300.0
    timestep_fs: float = 2.0
    friction_per_ps: float = 10.0
    md_steps: int = 200
    picks_per_round: int = 10
    min_separation: int = 10
    max_rounds: int = 5
    n_seed: int = 20
    seed_method: str = "rattle"
    seed_rattle: float = 0.1
    seed_interval: int = 10
    seed_equilibration: int = 50
    committee_size: int = 2
    cutoff: float = 4.0
    hidden: int = 16
    layers: int = 2
    epochs: int = 40
    lr: float = 5e-3
    batch_size: int = 4
    retrain_epochs: int = 10
    retrain_lr: float = 2e-3
    retrain_time_s: float | None = None
    seed: int = 0

    def check(self) -> "LearnSettings":
        if not self.threshold > 0:
            raise InputError(f"--max-force-std must be > 0 eV/Å, got {self.threshold}")
        for name in ("md_steps", "picks_per_round", "max_rounds", "n_seed", "committee_size", "epochs",
                     "retrain_epochs", "seed_interval"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"learn: {name} must be ≥ 1, got {getattr(self, name)}")
        if self.committee_size < 2:
            raise InputError("learn: a committee needs at least 2 members (--committee-size)")
        return self


@dataclass
class Round:
    """One round's record: ``labelled`` frames in the set after it, cumulative ``reference_calls``."""

    round: int
    labelled: int
    reference_calls: int
    md_steps_run: int = 0
    max_force_std: float | None = None
    picked: list = field(default_factory=list)
    converged: bool = False
    blew_up: bool = False
    heldout_force_mae: float | None = None
    heldout_energy_mae_per_atom: float | None = None
    committee: list = field(default_factory=list)


# ---------------------------------------------------------------- selection
def pick_uncertain(spreads, threshold: float, n_max: int, min_separation: int) -> list[int]:
    """Indices of at most ``n_max`` entries of ``spreads`` above ``threshold``, largest first, each at
    least ``min_separation`` apart from every one already picked (greedy); returned in index order."""
    spreads = np.asarray(spreads, dtype=float)
    picked: list[int] = []
    for k in np.argsort(-spreads, kind="stable"):
        if spreads[k] <= threshold or len(picked) >= n_max:
            break
        if all(abs(int(k) - p) >= min_separation for p in picked):
            picked.append(int(k))
    return sorted(picked)


# ------------------------------------------------------------------- pieces
class _Recorder:
    """Wraps a committee provider: every evaluated configuration and its max force std, in call order."""

    def __init__(self, committee):
        self.committee = committee
        self.states: list = []
        self.spreads: list[float] = []

    @property
    def cutoff(self):
        return self.committee.cutoff

    def compute(self, system, stress=False):
        result = self.committee.compute(system, stress=stress)
        self.states.append(_copy_system(system))
        self.spreads.append(float(result.uncertainty["max_force_std"]))
        return result


def _copy_system(system):
    return system.copy()


def committee_md(committee, start, settings: LearnSettings, seed: int):
    """Langevin MD with ``committee`` from ``start`` (a System, not modified); returns (states, spreads,
    blew_up): the configuration and max force std of every step (the initial one first)."""
    from integrators import LangevinBAOAB, RunawayError, Simulation
    from integrators.runaway import RunawayGuard, contact_distances
    from systems.velocities import maxwell_boltzmann

    system = _copy_system(start)
    system.velocities = maxwell_boltzmann(system.masses, settings.temperature_K, np.random.default_rng(seed))
    recorder = _Recorder(committee)
    integrator = LangevinBAOAB(recorder, timestep_fs=settings.timestep_fs, temperature_K=settings.temperature_K,
                               friction_per_fs=settings.friction_per_ps / 1000.0, seed=seed)
    guard = RunawayGuard(max_temperature_K=max(3 * settings.temperature_K, settings.temperature_K + 500),
                         min_distance=contact_distances(system.numbers), interval=1, temperature_patience=20)
    blew_up = False
    with Simulation(system, integrator, runaway=guard) as sim:
        try:
            sim.run(settings.md_steps)
        except RunawayError:
            blew_up = True
    return recorder.states, np.array(recorder.spreads), blew_up


def seed_frames(start, reference, settings: LearnSettings, labeller=None):
    """``n_seed`` reference frames (Frames with energy and forces) and the reference calls they cost
    (``labeller``: see :func:`active_learning`)."""
    from surrogate.egnn.data import generate_frames

    if settings.seed_method == "rattle":
        rng = np.random.default_rng(settings.seed)
        states = []
        for k in range(settings.n_seed):
            system = _copy_system(start)
            system.positions = system.positions + rng.normal(0.0, settings.seed_rattle * (k + 1) / settings.n_seed,
                                                             system.positions.shape)
            states.append(system)
        return (labeller or (lambda x: label(x, reference)))(states), settings.n_seed
    if settings.seed_method != "md":
        raise InputError(f"--seed-method must be rattle or md, got {settings.seed_method!r}")
    calls = settings.seed_equilibration + settings.n_seed * settings.seed_interval
    return generate_frames(start.to_atoms(), reference, temperatures_K=[settings.temperature_K],
                           frames_per_temperature=settings.n_seed, interval_steps=settings.seed_interval,
                           equilibration_steps=settings.seed_equilibration, timestep_fs=settings.timestep_fs,
                           friction_per_fs=settings.friction_per_ps / 1000.0, seed=settings.seed), calls


def train_committee(frames, folder, settings: LearnSettings) -> list[Path]:
    """K members trained from scratch on bootstrap resamples of ``frames`` (member k: seed + k)."""
    from surrogate.egnn.train import train_egnn

    paths = []
    for k in range(settings.committee_size):
        pick = np.random.default_rng(settings.seed + 100 + k).integers(0, len(frames), len(frames))
        paths.append(Path(train_egnn([frames[j] for j in pick], Path(folder) / f"member{k}", cutoff=settings.cutoff,
                                     hidden=settings.hidden, layers=settings.layers, max_epochs=settings.epochs,
                                     batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed + k,
                                     ema_decay=0.0, progress=False, stress_weight=0.0,
                                     early_stopping_patience=settings.epochs)))
    return paths


def heldout_errors(paths, frames) -> tuple[float, float]:
    """Force MAE (eV/Å, over all components) and energy MAE (eV/atom) of the committee mean on ``frames``."""
    from surrogate.member_committee import committee_provider

    committee = committee_provider(paths)
    force_err, energy_err = [], []
    for f in frames:
        r = committee.compute(f.to_system())
        force_err.append(np.abs(r.forces - f.forces).ravel())
        energy_err.append(abs(r.energy - f.energy) / len(f.numbers))
    return float(np.concatenate(force_err).mean()), float(np.mean(energy_err))


def label(states, reference):
    """Reference Frames of ``states`` (Systems), labelled one after another with a fresh calculator state."""
    from systems.frame import Frame

    frames = []
    for system in states:
        calc = getattr(reference, "calc", None)
        if callable(getattr(calc, "reset", None)):
            calc.reset()  # a label is a function of the configuration alone (see surrogate.fallback)
        r = reference.compute(system)
        frames.append(Frame(numbers=system.numbers.copy(), positions=system.positions.copy(),
                            cell=system.cell.copy(), pbc=system.pbc.copy(), time=float(system.time),
                            index=len(frames), energy=float(r.energy), forces=np.array(r.forces),
                            masses=system.masses.copy()))
    return frames


# -------------------------------------------------------------------- driver
def dask_labeller(reference: str, folder, *, calculator_args=None, scheduler=None, n_workers=None, threads=None):
    """A labeller for :func:`active_learning` that fans the frames out on Dask (:func:`surrogate.labelling.label_frames`).

    Each call labels its Systems with the reference named ``reference`` into ``folder/batch-<hash>.extxyz``
    (the hash is of the positions, so a resumed round finds its finished frames and labels only the rest)
    and returns Frames in the order given, with energy (eV) and forces (eV/Å).
    """
    import hashlib

    from systems.trajectory_reader import read_frames

    from .labelling import label_frames

    folder = Path(folder)

    def labeller(states):
        digest = hashlib.sha256(b"".join(np.ascontiguousarray(s.positions).tobytes() for s in states)).hexdigest()[:16]
        path = label_frames([s.to_atoms() for s in states], reference, folder / f"batch-{digest}.extxyz",
                            calculator_args=calculator_args, scheduler=scheduler, n_workers=n_workers, threads=threads)
        frames = list(read_frames(path))
        for f, system in zip(frames, states):
            f.masses = system.masses.copy()
        return frames

    return labeller


def active_learning(start, reference, out, settings: LearnSettings, *, seed_set=None, heldout=None,
                    resume: bool = False, log=print, labeller=None) -> list[Round]:
    """Run active learning (see the module docstring); returns the rounds.

    start : System the MD rounds start from (Å, amu); reference : force provider labelling frames;
    seed_set : Frames with energies and forces (default: sampled with the reference);
    heldout : Frames with energies and forces for the learning curve, or None;
    labeller : callable (list of Systems) -> list of Frames with the reference's energy and forces; default
        :func:`label` in this process, one frame after another (:func:`dask_labeller` fans out on Dask).
    """
    labeller = labeller or (lambda states: label(states, reference))
    from systems.forces import ForceResult

    from .labelled_set import LabelledSet
    from .member_committee import committee_provider, load_members
    from .retrain import RetrainSettings, finetune_committee

    settings.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / STATE
    rounds: list[Round] = []
    if resume and state_path.exists():
        saved = json.loads(state_path.read_text())
        rounds = [Round(**r) for r in saved["rounds"]]
    labelled = LabelledSet(out / LABELLED, append=bool(rounds))
    if rounds:
        labelled.truncate(rounds[-1].labelled)  # frames of a round that did not finish are labelled again
        log(f"learn: resuming after round {rounds[-1].round} ({labelled.count} labelled frames)")

    def record(r: Round) -> None:
        if heldout:
            r.heldout_force_mae, r.heldout_energy_mae_per_atom = heldout_errors(r.committee, heldout)
        rounds.append(r)
        atomic_write_text(state_path, json.dumps({"settings": asdict(settings), "rounds": [asdict(x) for x in rounds]},
                                                 indent=1) + "\n")
        write_curve(out, rounds)
        mae = f", held-out force MAE {r.heldout_force_mae:.4g} eV/Å" if r.heldout_force_mae is not None else ""
        spread = f", max std {r.max_force_std:.3g} eV/Å" if r.max_force_std is not None else ""
        log(f"learn: round {r.round}: {r.labelled} labelled frames, {r.reference_calls} reference calls{spread}"
            f"{mae}{' (converged)' if r.converged else ''}")

    if not rounds:  # round 0: the seed set and the first committee
        frames, calls = (list(seed_set), 0) if seed_set is not None else seed_frames(start, reference, settings, labeller)
        for f in frames:
            labelled.append(_as_system(f), ForceResult(float(f.energy), np.asarray(f.forces)))
        paths = train_committee(labelled.frames(), out / "rounds" / "r000", settings)
        record(Round(0, labelled.count, calls, committee=[str(p) for p in paths]))

    retrain = RetrainSettings(epochs=settings.retrain_epochs, lr=settings.retrain_lr, batch_size=settings.batch_size,
                              seed=settings.seed, time_budget_s=settings.retrain_time_s)
    while not rounds[-1].converged and rounds[-1].round < settings.max_rounds:
        last = rounds[-1]
        k = last.round + 1
        committee = committee_provider(last.committee)
        states, spreads, blew_up = committee_md(committee, start, settings, seed=settings.seed + 7919 * k)
        picks = pick_uncertain(spreads, settings.threshold, settings.picks_per_round, settings.min_separation)
        if blew_up and len(states) > 1 and (len(states) - 2) not in picks:
            # the last sound state before a blow-up is where the committee most needs data
            picks = sorted(set(picks[: settings.picks_per_round - 1]) | {len(states) - 2})
        max_std = float(spreads.max()) if len(spreads) else None
        if not picks and not blew_up:
            record(Round(k, labelled.count, last.reference_calls, len(states) - 1, max_std, [], True, False,
                         committee=last.committee))
            break
        new = labeller([states[p] for p in picks])
        for system, f in zip((states[p] for p in picks), new):
            labelled.append(system, ForceResult(f.energy, f.forces))
        path = out / "rounds" / f"r{k:03d}.pt"
        finetune_committee(load_members(last.committee), labelled.frames(), path, retrain, k)
        paths = [path]
        record(Round(k, labelled.count, last.reference_calls + len(new), len(states) - 1, max_std, picks, False,
                     blew_up, committee=[str(p) for p in paths]))
    from .egnn.committee import save_committee

    final = save_committee(load_members(rounds[-1].committee), out / COMMITTEE,
                           info={"active_learning": {"rounds": rounds[-1].round, "labelled": labelled.count}})
    log(f"learn: final committee in {final}, {labelled.count} labelled frames in {labelled.path}, "
        f"{rounds[-1].reference_calls} reference calls")
    return rounds


def _as_system(frame):
    return frame.to_system()


def write_curve(out, rounds: list[Round]) -> None:
    """``learning_curve.json`` and ``learning_curve.png``: held-out force MAE and reference calls per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    out = Path(out)
    curve = {"round": [r.round for r in rounds], "reference_calls": [r.reference_calls for r in rounds],
             "labelled": [r.labelled for r in rounds], "max_force_std_eV_A": [r.max_force_std for r in rounds],
             "heldout_force_mae_eV_A": [r.heldout_force_mae for r in rounds],
             "heldout_energy_mae_eV_per_atom": [r.heldout_energy_mae_per_atom for r in rounds],
             "converged": bool(rounds and rounds[-1].converged)}
    atomic_write_text(out / CURVE_JSON, json.dumps(curve, indent=1) + "\n")
    fig, left = plt.subplots(figsize=(5.5, 3.5))
    if any(v is not None for v in curve["heldout_force_mae_eV_A"]):
        left.plot(curve["round"], [np.nan if v is None else v for v in curve["heldout_force_mae_eV_A"]], "o-",
                  color="C0")
        left.set_ylabel("held-out force MAE (eV/Å)", color="C0")
    left.set_xlabel("round")
    left.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    right = left.twinx()
    right.plot(curve["round"], curve["reference_calls"], "s--", color="C1")
    right.set_ylabel("reference calls (cumulative)", color="C1")
    fig.tight_layout()
    atomic_write(out / CURVE_PNG, lambda fh: fig.savefig(fh, format="png", dpi=100))
    plt.close(fig)
