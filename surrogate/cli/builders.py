"""Turning parsed options into a System, a force provider and an integrator."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np

from systems import units
from systems.errors import InputError
from systems.state import System

ARGON_Z = 18


@dataclass
class Setup:
    """What a simulation command builds from its options."""

    system: System
    topology: object = None  # mdtraj.Topology with bonds, when known (PDB, OpenMM)
    provider: object = None
    provider_name: str = ""
    supports_stress: bool = False
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------ system
def build_system(args) -> tuple[System, object]:
    """The starting System (Å, amu, Å/ASE-time velocities) and its topology (or None)."""
    from systems.catalogue import argon_fcc, liquid_argon, lj_cluster
    from systems.velocities import maxwell_boltzmann

    spec = args.system
    if spec is None:
        spec = args.pdb if getattr(args, "forcefield", None) and args.pdb else "liquid-argon"
    rng_seed = int(args.seed)
    if spec == "liquid-argon":
        return liquid_argon(args.n_atoms, density_g_cm3=args.density_g_cm3, temperature_K=args.temperature_K,
                            seed=rng_seed), None
    if spec == "argon-fcc":
        return argon_fcc(args.repeat, seed=rng_seed, temperature_K=args.temperature_K), None
    if spec == "lj-cluster":
        return lj_cluster(args.n_atoms, epsilon=getattr(args, "epsilon", None), seed=rng_seed), None
    if spec.startswith("bulk:"):
        from ase.build import bulk

        element = spec.split(":", 1)[1]
        try:
            atoms = bulk(element, cubic=True).repeat(args.repeat)
        except Exception as exc:  # noqa: BLE001 - ASE raises assorted errors for unknown elements
            raise InputError(f"--system {spec}: ASE cannot build a cubic {element!r} crystal ({exc})") from None
        system = System.from_atoms(atoms)
        system.velocities = maxwell_boltzmann(system.masses, args.temperature_K, np.random.default_rng(rng_seed))
        return system, None
    if not os.path.exists(spec):
        raise InputError(f"--system {spec!r} is neither a ready-made system (liquid-argon, argon-fcc, lj-cluster), "
                         "'bulk:<element>', nor an existing file")
    return _system_from_file(spec, args)


def _system_from_file(path: str, args) -> tuple[System, object]:
    from systems.trajectory_reader import count_frames, read_frames
    from systems.velocities import maxwell_boltzmann

    top = getattr(args, "top", None)
    if top is not None and not os.path.isfile(top):
        raise InputError(f"--top {top!r} is not a file")
    index = int(args.frame)
    with top_hint(top):
        if index < 0:
            index += count_frames(path, top=top)
        if index < 0:
            raise InputError(f"--frame {args.frame} is before the first frame of {path}")
        frames = list(read_frames(path, top=top, start=index, stop=index + 1))
    if not frames:
        raise InputError(f"{path} has no frame {args.frame}")
    system = frames[0].to_system()
    system.time = 0.0
    if not np.any(system.velocities):
        system.velocities = maxwell_boltzmann(system.masses, args.temperature_K, np.random.default_rng(args.seed))
    topology = None
    pdb = path if path.lower().endswith(".pdb") else top if top and top.lower().endswith(".pdb") else None
    if pdb is not None:
        import mdtraj

        topology = mdtraj.load_topology(pdb)
        if topology.n_atoms != system.n_atoms:
            raise InputError(f"--top {pdb} has {topology.n_atoms} atoms, the frame of {path} {system.n_atoms}")
    return system, topology


@contextlib.contextmanager
def top_hint(top):
    """Re-raise the reader's "pass top=" (the Python keyword) as the command-line flag --top."""
    try:
        yield
    except InputError as err:
        if top is None and "top=" in str(err):
            raise InputError(f"{err}; on the command line: --top FILE.pdb") from None
        raise


def default_timestep_fs(system: System) -> float:
    """5 fs for argon, 0.05 fs (≈ 0.005 τ) for reduced-unit particles, 0.5 fs with hydrogen, else 2 fs."""
    z = set(int(v) for v in system.numbers)
    if z == {ARGON_Z}:
        return 5.0
    if z == {0}:
        return 0.05
    if 1 in z:
        return 0.5
    return 2.0


# ---------------------------------------------------------------- providers
def classical_potential(name: str, system: System, args):
    """A Numba pair potential by ``--potential`` name."""
    from systems.catalogue import lj_cluster_potential
    from systems.potentials import LennardJones

    if name == "lj-argon":
        return LennardJones.argon(cutoff=args.cutoff or 8.5), "Lennard-Jones argon (σ 3.405 Å, ε 0.0103 eV)"
    if name == "lj-cluster":
        epsilon = getattr(args, "epsilon", None) or system.info.get("epsilon")
        pot = lj_cluster_potential(system.n_atoms, epsilon=epsilon, cutoff=args.cutoff or 2.5)
        return pot, f"Lennard-Jones, reduced units (σ 1, ε {pot.epsilon:g})"
    if name == "lj":
        epsilon = args.epsilon or 0.0103
        return LennardJones(args.sigma, epsilon, args.cutoff), f"Lennard-Jones (σ {args.sigma:g} Å, ε {epsilon:g} eV)"
    raise InputError(f"--potential must be one of lj-argon, lj-cluster, lj; got {name!r}")


def default_potential(system: System) -> str | None:
    z = set(int(v) for v in system.numbers)
    if z == {ARGON_Z}:
        return "lj-argon"
    if z == {0}:
        return "lj-cluster"
    return None


def ase_calculator(spec: str, kwargs_text: str | None):
    """An ASE calculator from 'emt' (a module of ase.calculators; its calculator class by name) or 'module:Class',
    with --calculator-args; returns ``(calculator, class)``."""
    from surrogate.reference import ase_calculator_class, instantiate, parse_calculator_args

    kwargs = parse_calculator_args(kwargs_text)
    cls = ase_calculator_class(spec, flag="--ase-calculator")
    return instantiate(cls, kwargs, f"--ase-calculator {spec!r}"), cls


def build_provider(args, system: System, *, allow_model: bool) -> tuple[object, str, bool]:
    """The force provider the options ask for: ``(provider, description, supports_stress)``.

    Exactly one source of forces: --potential, --ase-calculator, --reference
    (xtb, gfn1, emt, ase:module:Class; see :mod:`surrogate.reference`),
    --forcefield (OpenMM) or --model (EGNN). Without any, the system's own
    classical potential (argon, lj-cluster).
    """
    model = getattr(args, "model", None) if allow_model else None
    lstm = getattr(args, "integrator", None) == "lstm"
    reference = getattr(args, "reference", None)
    sources = [name for name, given in (("--potential", args.potential), ("--ase-calculator", args.ase_calculator),
                                        ("--reference", reference), ("--forcefield", args.forcefield),
                                        ("--model", model and not lstm)) if given]
    if reference and args.pdb and "--forcefield" not in sources:
        sources.append("--pdb")
    if len(sources) > 1:
        raise InputError(f"choose one source of forces, got {' and '.join(sources)}")
    periodic = bool(np.all(system.pbc))
    if reference:
        from surrogate.reference import reference_provider

        provider, text, stress = reference_provider(reference, args.calculator_args, numbers=system.numbers)
        return provider, f"{text} (--reference {reference})", periodic and stress
    if args.forcefield:
        from surrogate.openmm_provider import OpenMMForceProvider

        if not args.pdb:
            raise InputError("--forcefield needs --pdb (the OpenMM topology)")
        provider = OpenMMForceProvider(args.pdb, args.forcefield, cutoff=args.cutoff or 9.0,
                                       platform=args.openmm_platform)
        if provider.numbers.shape != system.numbers.shape:
            raise InputError(f"--pdb {args.pdb} has {len(provider.numbers)} atoms, the system {system.n_atoms}")
        return provider, f"OpenMM {' '.join(args.forcefield)}", False
    if args.ase_calculator:
        from integrators import AseCalculatorProvider

        calc, cls = ase_calculator(args.ase_calculator, args.calculator_args)
        return (AseCalculatorProvider(calc), f"ASE {cls.__name__}",
                periodic and "stress" in getattr(calc, "implemented_properties", ()))
    if model and not lstm:
        return egnn_provider(model, args, system), f"EGNN {model}", periodic
    name = args.potential or default_potential(system)
    if name is None:
        raise InputError("no force provider: give --potential, --reference, --ase-calculator, --forcefield with --pdb"
                         + (", or --model" if allow_model else ""))
    provider, text = classical_potential(name, system, args)
    return provider, text, periodic


def check_device(device: str) -> str:
    """``device`` if torch can use it; a clear InputError for a GPU that is absent or a malformed name."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"--device {device!r} is not a torch device name (cpu, cuda, cuda:1, ...): {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: no CUDA GPU is available to torch here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) present")
    return device


def model_kind(path) -> str:
    """The ``kind`` in a model file's header ("egnn", "lstm", ...)."""
    from surrogate.model_file import load_model_file

    if not os.path.exists(path):
        raise InputError(f"model file {path!r} does not exist")
    header, _ = load_model_file(path)
    return str(header.get("kind"))


def egnn_provider(path, args, system: System | None = None):
    """The EGNN force provider of ``--model`` (one model or a committee file); with ``system``, its elements
    are checked against the model's species here, before any output is written."""
    kind = model_kind(path)
    if kind not in ("egnn", "egnn-committee"):  # a committee also gives the uncertainty (surrogate.egnn.committee)
        hint = " (an LSTM operator: use --integrator lstm)" if kind == "lstm" else ""
        raise InputError(f"--model {path} holds a {kind!r} model, not an EGNN force model{hint}")
    from surrogate.egnn.provider import EGNNForceProvider

    provider = EGNNForceProvider(path, device=check_device(args.device), dtype=args.dtype,
                                 topology=_bond_topology(args))
    if system is not None:
        try:
            provider.model.species_index(system.numbers)
        except InputError as err:
            raise InputError(f"--model {path} cannot simulate this system: {err}") from None
    return provider


def _bond_topology(args):
    """The topology whose bonds a model with ``--bond-edges topology`` uses: --top, else a --system file that
    carries one (PDB, ...), else None (a model with covalent or no bond edges needs none)."""
    from surrogate.egnn.train import _own_topology

    top = getattr(args, "top", None)
    system = getattr(args, "system", None)
    return top if top is not None else (_own_topology(system) if system and os.path.isfile(system) else None)


# --------------------------------------------------------------- integrators
def build_integrator(args, provider, system: System, timestep_fs: float):
    """The integrator of ``--integrator`` (langevin, verlet, bussi, mc) around ``provider``."""
    from integrators import Bussi, LangevinBAOAB, MetropolisMC, VelocityVerlet

    name = args.integrator
    if name == "verlet":
        return VelocityVerlet(provider, timestep_fs=timestep_fs)
    if name == "langevin":
        return LangevinBAOAB(provider, timestep_fs=timestep_fs, temperature_K=args.temperature_K,
                             friction_per_fs=args.friction_per_ps / 1000.0, seed=args.seed)
    if name == "bussi":
        return Bussi(provider, timestep_fs=timestep_fs, temperature_K=args.temperature_K, tau_fs=args.tau_fs,
                     seed=args.seed)
    if name == "mc":
        return MetropolisMC(provider, temperature_K=args.temperature_K, step_size=args.mc_step_size, seed=args.seed)
    raise InputError(f"--integrator {name!r} is not available here")


def equilibration_integrator(args, provider, timestep_fs: float):
    """Langevin at --temperature-K with friction max(γ, 10/ps), so equilibration takes a few ps at most."""
    from integrators import LangevinBAOAB

    friction_per_ps = max(args.friction_per_ps, 10.0)
    return LangevinBAOAB(provider, timestep_fs=timestep_fs, temperature_K=args.temperature_K,
                         friction_per_fs=friction_per_ps / 1000.0, seed=args.seed + 7919)


def simulated_steps(args, timestep_fs: float, is_mc: bool) -> int:
    """Production steps from --steps or --time-ps (default 10 ps; MC default 1000 sweeps)."""
    if args.steps is not None:
        return int(args.steps)
    if is_mc:
        if args.time_ps is not None:
            raise InputError("--time-ps means nothing for Monte Carlo; give --steps (sweeps)")
        return 1000
    time_ps = 10.0 if args.time_ps is None else args.time_ps
    return int(round(time_ps * 1000.0 / timestep_fs))


def time_per_step_fs(integrator) -> float:
    return float(integrator.timestep) / units.fs


# ------------------------------------------------------------------ guards
#: --integrator name of each integrator class, for messages about checkpoints.
INTEGRATOR_FLAGS = {"VelocityVerlet": "verlet", "LangevinBAOAB": "langevin", "Bussi": "bussi", "MetropolisMC": "mc",
                    "LSTMOperatorIntegrator": "lstm", "ManyBodyOperatorIntegrator": "lstm"}
#: Atoms per Å³ of ready-made systems whose size is known before they are built (fcc argon, a = 5.26 Å).
FCC_ARGON_PER_A3 = 4 / 5.26**3


def _size_flag(args) -> str:
    spec = args.system or "liquid-argon"
    if spec in ("liquid-argon", "lj-cluster"):
        return f"--n-atoms {args.n_atoms}"
    if spec == "argon-fcc" or spec.startswith("bulk:"):
        return f"--repeat {args.repeat}"
    return f"--system {spec}"


def check_size_before_build(args) -> None:
    """Refuse a ready-made system too large for memory before building it (``--n-atoms 10000000``)."""
    from ase.units import mol

    from .resources import check_memory, simulation_memory_bytes

    spec = args.system or ("liquid-argon" if not getattr(args, "forcefield", None) else None)
    if spec == "liquid-argon":
        n, density, cutoff = args.n_atoms, args.density_g_cm3 / 39.948 * mol / 1e24, args.cutoff or 8.5
    elif spec == "argon-fcc":
        n, density, cutoff = 4 * args.repeat**3, FCC_ARGON_PER_A3, args.cutoff or 8.5
    elif spec == "lj-cluster":
        n, density, cutoff = args.n_atoms, 0.8, args.cutoff or 2.5
    else:
        return
    check_memory(args, simulation_memory_bytes(n, density, cutoff), f"{_size_flag(args)} ({n} atoms)")


def check_simulation_size(args, system: System, provider, timestep_fs: float, is_mc: bool) -> None:
    """Refuse a run whose memory (atoms, neighbors within the provider's cutoff, a model's graph) or
    trajectory (frames × atoms × bytes per atom of --format) exceeds the limits, naming the estimate
    and the flag that raises the limit."""
    from .resources import (check_memory, check_output, simulation_memory_bytes, system_density,
                            trajectory_bytes)

    cutoff = float(getattr(provider, "cutoff", None) or 6.0)
    model = getattr(provider, "model", None)
    per_edge = 0.0
    hidden, layers = getattr(model, "hidden", None), getattr(model, "n_layers", 1)
    if isinstance(hidden, int) and isinstance(layers, int):  # a graph model: autograd keeps each layer's messages
        per_edge = 64.0 + 12.0 * 4.0 * hidden * max(1, layers)
    what = f"{system.n_atoms} atoms ({_size_flag(args)})"
    check_memory(args, simulation_memory_bytes(system.n_atoms, system_density(system), cutoff,
                                               graph_bytes_per_edge=per_edge), f"the simulation of {what}")
    n_steps = simulated_steps(args, 1.0 if is_mc else timestep_fs, is_mc)
    traj_interval = args.traj_interval or (10 if is_mc else max(1, int(round(10.0 / timestep_fs))))
    frames = n_steps // traj_interval + 1
    check_output(args, trajectory_bytes(system.n_atoms, frames, args.format),
                 f"the trajectory of {frames} frames of {what} in {args.format}")


def check_resume(args, system: System, integrator, provider) -> None:
    """With --resume: refuse, before anything is written, a checkpoint that does not fit the options.

    The checkpoint (``--out``/checkpoint.npz) must be readable, hold the same
    atom count, elements and cell as the system the options describe, and the
    state of the same integrator with the same timestep.
    """
    if not getattr(args, "resume", False):
        return
    from pathlib import Path

    from integrators.checkpoint import load_checkpoint
    from integrators.provider_state import load_provider_state

    path = Path(args.out) / "checkpoint.npz"
    if not path.is_file():
        raise InputError(f"--resume: no checkpoint {path} (write one with --checkpoint-interval)")
    saved = load_checkpoint(path)
    old = saved.system
    if old.n_atoms != system.n_atoms:
        raise InputError(f"--resume: checkpoint {path} holds {old.n_atoms} atoms, but the options give "
                         f"{system.n_atoms} ({_size_flag(args)}); resume with the options of the run that wrote it")
    if not np.array_equal(old.numbers, system.numbers):
        k = int(np.flatnonzero(old.numbers != system.numbers)[0])
        raise InputError(f"--resume: checkpoint {path} holds other elements than --system "
                         f"{args.system or 'liquid-argon'} (atom {k}: Z={old.numbers[k]} against "
                         f"Z={system.numbers[k]})")
    if not (np.array_equal(old.pbc, system.pbc) and np.allclose(old.cell, system.cell, rtol=1e-9, atol=1e-9)):
        raise InputError(f"--resume: checkpoint {path} has another cell than the options give (e.g. "
                         f"--density-g-cm3 or --system): {np.round(np.diag(old.cell), 6).tolist()} Å against "
                         f"{np.round(np.diag(system.cell), 6).tolist()} Å")
    kind = saved.integrator_state.get("kind")
    mine = type(integrator).__name__
    if kind != mine:
        flag = INTEGRATOR_FLAGS.get(str(kind))
        raise InputError(f"--resume: checkpoint {path} holds the state of {kind!r}"
                         + (f" (--integrator {flag})" if flag else "")
                         + f", not of {mine} (--integrator {args.integrator}); resume with the same --integrator")
    try:  # the same load from_checkpoint makes: a state that does not fit is named here, not a traceback
        integrator.load_state_dict(saved.integrator_state)
        if provider is not None:
            load_provider_state(provider, saved.provider_state)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise InputError(f"--resume: checkpoint {path} does not fit these options: "
                         f"{type(err).__name__}: {err}") from None


def runaway_guard(args, system: System, integrator):
    """The runaway monitor of ``run`` / ``generate`` from the --runaway-* options.

    Thermostatted runs (langevin, bussi) stop when the temperature exceeds both
    factor × target and target + margin for --runaway-temperature-patience-fs (not for reduced-unit particles,
    Z = 0); every run stops when two atoms come
    closer than --runaway-contact-fraction of their covalent radii sum (≥ 0.3 Å).
    With --no-runaway-check only non-finite positions, velocities, energies
    and forces stop a run.
    """
    from integrators.runaway import RunawayGuard, contact_distances

    if getattr(args, "no_runaway_check", False):
        return RunawayGuard(interval=args.runaway_interval)
    max_t = None
    reduced_units = not np.any(system.numbers)  # lj-cluster: ε of 1-2 eV, a temperature in K means little
    if args.integrator in ("langevin", "bussi") and not reduced_units:
        target = float(args.temperature_K)
        max_t = max(args.runaway_temperature_factor * target, target + args.runaway_temperature_margin_K)
    timestep = float(integrator.timestep)
    patience = int(round(args.runaway_temperature_patience_fs * units.fs / timestep)) if timestep > 0 else 0
    return RunawayGuard(max_temperature_K=max_t,
                        min_distance=contact_distances(system.numbers, args.runaway_contact_fraction),
                        interval=args.runaway_interval, temperature_patience=patience)
