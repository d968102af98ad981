"""Option groups shared by the commands (system, force provider, dynamics, output) and argument types."""

from __future__ import annotations

import argparse

#: Ready-made systems of ``--system`` (anything else is read as a file, or ``bulk:<element>``).
SYSTEMS = ("liquid-argon", "argon-fcc", "lj-cluster")
#: Classical potentials of ``--potential``.
POTENTIALS = ("lj-argon", "lj-cluster", "lj")
#: Integrators of ``--integrator`` (``lstm`` only for ``surrogate run``).
INTEGRATORS = ("langevin", "verlet", "bussi", "mc")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or a positive number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text!r}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults and keep the hand-made line breaks of descriptions and epilogs."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.yaml",
                        help="read options from a YAML file (keys are the long flag names); flags given here "
                             "override it")


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: CPU threads of torch, Numba, BLAS and OpenMP (see :mod:`surrogate.threads`)."""
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="CPU threads for torch, Numba, BLAS and OpenMP (default: the usable CPUs minus the "
                             "load of other processes, at least 1; or OMP_NUM_THREADS when set). More threads than "
                             "free cores can make training 10-100x slower")


def add_system_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("system (what is simulated)")
    g.add_argument("--system", default=None, metavar="NAME|bulk:EL|FILE",
                   help=f"a ready-made system ({', '.join(SYSTEMS)}), 'bulk:<element>' (ASE's cubic crystal, e.g. "
                        "bulk:Cu, repeated --repeat times), or a structure/trajectory file whose frame --frame is used "
                        "(default: liquid-argon, or the --pdb file with --forcefield)")
    g.add_argument("--n-atoms", type=positive_int, default=256,
                   help="number of atoms of liquid-argon / particles of lj-cluster")
    g.add_argument("--repeat", type=positive_int, default=3, help="unit-cell repeats of argon-fcc and bulk:<element>")
    g.add_argument("--density-g-cm3", type=positive_float, default=1.374, help="liquid-argon density (g/cm³)")
    g.add_argument("--frame", type=int, default=0,
                   help="frame of a --system file to start from (negative: from the end)")
    g.add_argument("--top", default=None, metavar="FILE",
                   help="topology (e.g. a PDB) of a --system trajectory in a format without atom names "
                        "(xtc, trr, dcd, nc)")
    g.add_argument("--temperature-K", type=positive_float, default=94.4,
                   help="temperature (K): initial Maxwell-Boltzmann velocities and the thermostat target")
    g.add_argument("--seed", type=int, default=0, help="seed of every random number (positions, velocities, noise)")


def add_provider_options(parser: argparse.ArgumentParser, models: bool) -> None:
    g = parser.add_argument_group("forces (choose one source)")
    g.add_argument("--potential", choices=POTENTIALS, default=None,
                   help="a classical Numba potential: lj-argon (σ 3.405 Å, ε 0.0103 eV), lj-cluster (reduced units, "
                        "σ=1 Å, ε=1 or 2 eV), lj (--sigma, --epsilon). Default: the system's own potential")
    g.add_argument("--cutoff", type=positive_float, default=None,
                   help="cutoff (Å) of --potential (default 8.5 for lj-argon, 2.5 for lj-cluster, 3σ for lj)")
    g.add_argument("--sigma", type=positive_float, default=3.405, help="σ (Å) of --potential lj")
    g.add_argument("--epsilon", type=positive_float, default=None,
                   help="ε (eV) of --potential lj (default 0.0103) or lj-cluster (default 2 for 16 particles, else 1)")
    g.add_argument("--reference", metavar="NAME", default=None,
                   help="a reference calculator by name: xtb (= gfn2, GFN2-xTB through tblite), gfn1 (GFN1-xTB), "
                        "emt (ASE EMT), or ase:module:Class (any ASE calculator; --calculator-args). GFN2 costs "
                        "≈ 3 s per call for 24 periodic water atoms on one thread, ms for a small molecule")
    g.add_argument("--ase-calculator", metavar="NAME|module:Class", default=None,
                   help="any ASE calculator: a name under ase.calculators (emt, lj, morse, ...) or 'module:Class'")
    g.add_argument("--calculator-args", metavar="YAML", default=None,
                   help="keyword arguments of --ase-calculator or --reference as a YAML/JSON mapping, e.g. "
                        "'{sigma: 3.4}' or '{charge: 0, electronic_temperature: 500}'")
    g.add_argument("--pdb", default=None, metavar="FILE.pdb",
                   help="OpenMM: the PDB (atoms, bonds, box) to simulate; needs --forcefield and the 'reference' extra")
    g.add_argument("--forcefield", nargs="+", default=None, metavar="XML",
                   help="OpenMM force-field XML files, e.g. amber14-all.xml amber14/tip3pfb.xml")
    g.add_argument("--openmm-platform", default="CPU", help="OpenMM platform (CPU, Reference, CUDA, ...)")
    if models:
        g.add_argument("--model", default=None, metavar="FILE.pt",
                       help="a trained model file: an EGNN force model (its forces drive the integrator), or with "
                            "--integrator lstm an LSTM large-timestep operator")
        g.add_argument("--warmup-potential", choices=POTENTIALS, default=None,
                       help="classical potential that produces the LSTM's first window (default: the system's own)")
        g.add_argument("--device", default="cpu", help="torch device of --model: cpu, cuda, cuda:1, ...")
        g.add_argument("--dtype", choices=("float32", "float64"), default=None,
                       help="model precision (default: the precision it was trained in)")


def add_dynamics_options(parser: argparse.ArgumentParser, integrators=INTEGRATORS, default_integrator="langevin",
                         default_equilibrate_ps: float = 0.0) -> None:
    g = parser.add_argument_group("dynamics")
    g.add_argument("--integrator", choices=integrators, default=default_integrator,
                   help="langevin (BAOAB, NVT), verlet (NVE), bussi (velocity rescaling, NVT), mc (Metropolis, "
                        "one step = one sweep)" + (", lstm (learned large-stride operator, needs --model)"
                                                   if "lstm" in integrators else "")
                        + (", da-mc / nested-mc (Monte Carlo exact under --reference, the surrogate --model "
                           "screening or proposing; see --inner-steps)" if "da-mc" in integrators else ""))
    g.add_argument("--timestep-fs", type=positive_float, default=None,
                   help="MD timestep (fs); default 5 for argon, 1 for other atoms, 0.5 with hydrogen, "
                        "0.1 (≈0.001 τ) for lj-cluster's reduced units")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--steps", type=non_negative_int, default=None, help="production steps (MC: sweeps)")
    length.add_argument("--time-ps", type=non_negative_float, default=None,
                        help="production length in ps (default 10 ps; MC: use --steps)")
    g.add_argument("--equilibrate-ps", type=non_negative_float, default=default_equilibrate_ps,
                   help="Langevin equilibration at --temperature-K before production (not written)")
    g.add_argument("--friction-per-ps", type=positive_float, default=1.0, help="Langevin friction γ (1/ps)")
    g.add_argument("--tau-fs", type=positive_float, default=100.0, help="Bussi thermostat time constant (fs)")
    g.add_argument("--mc-step-size", type=positive_float, default=0.1, help="initial MC displacement half-width (Å)")
    from .constraint_options import add_constraint_options
    from .npt_options import add_npt_options

    add_npt_options(parser)
    add_constraint_options(parser)


def add_output_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--out", default=default_out, metavar="DIR",
                   help="output directory: trajectory, thermo.csv, run_info.json, config.yaml")
    g.add_argument("--format", default="extxyz",
                   help="trajectory format: extxyz (stores velocities, energies, forces), traj, xtc, trr, dcd, nc, pdb")
    g.add_argument("--traj-interval", type=positive_int, default=None,
                   help="steps between trajectory frames (default: every 10 fs of simulated time, at least 1 step)")
    g.add_argument("--log-interval", type=positive_int, default=None,
                   help="steps between thermo.csv lines (default: the trajectory interval)")
    g.add_argument("--checkpoint-interval", type=positive_int, default=None,
                   help="steps between checkpoints (out/checkpoint.npz); default: none")
    g.add_argument("--resume", action="store_true",
                   help="continue from out/checkpoint.npz, appending to the trajectory and log")
    g.add_argument("--no-progress", action="store_true", help="draw no progress bar")


def add_size_options(parser: argparse.ArgumentParser, output: bool = True) -> None:
    """--max-memory-gb, --max-output-gb and --no-size-check: the limits of the estimate made before long work."""
    g = parser.add_argument_group("size limits (checked before the work starts)")
    g.add_argument("--max-memory-gb", type=positive_float, default=None,
                   help="refuse a job whose estimated memory exceeds this (GB); default 80%% of the memory "
                        "available when it starts")
    if output:
        g.add_argument("--max-output-gb", type=positive_float, default=None,
                       help="refuse a run whose estimated trajectory exceeds this (GB); default the free space "
                            "on the disk of --out")
    g.add_argument("--no-size-check", action="store_true", help="start even when an estimate exceeds its limit")


def add_runaway_options(parser: argparse.ArgumentParser) -> None:
    """The runaway monitor of run / generate: a thermostat far above its target, atoms on top of each other."""
    g = parser.add_argument_group("runaway monitor (stops a run that blows up, naming the step and atoms)")
    g.add_argument("--runaway-temperature-factor", type=positive_float, default=3.0,
                   help="thermostatted runs (langevin, bussi) stop when the temperature exceeds both this "
                        "multiple of --temperature-K and --temperature-K plus --runaway-temperature-margin-K")
    g.add_argument("--runaway-temperature-margin-K", type=non_negative_float, default=500.0,
                   help="see --runaway-temperature-factor (K)")
    g.add_argument("--runaway-temperature-patience-fs", type=non_negative_float, default=0.0,
                   help="stop only once the temperature has stayed above the limit this long (fs); for a start "
                        "far from equilibrium that heats while it relaxes (better: --equilibrate-ps)")
    g.add_argument("--runaway-contact-fraction", type=positive_float, default=0.5,
                   help="stop when two atoms are closer than this fraction of the sum of their covalent radii "
                        "(at least 0.3 Å): closer than any physical bond")
    g.add_argument("--runaway-interval", type=positive_int, default=10,
                   help="steps between checks (the state is also checked before every report and checkpoint)")
    g.add_argument("--no-runaway-check", action="store_true",
                   help="no temperature or contact checks (non-finite positions, velocities, energies and "
                        "forces still stop a run)")


def add_replica_options(parser: argparse.ArgumentParser) -> None:
    """--replicas B and --max-batch-edges (surrogate/cli/replicas.py)."""
    g = parser.add_argument_group("replicas (B independent runs, one batched force evaluation per step)")
    g.add_argument("--replicas", type=positive_int, default=None, metavar="B",
                   help="run B replicas with seeds seed, seed+1, ..., seed+B-1 into OUT/replica_000 ... (each with "
                        "a single run's files; --resume resumes each); an EGNN evaluates all replicas in one call")
    g.add_argument("--max-batch-edges", type=positive_int, default=None, metavar="E",
                   help="--replicas with --model: edges per batched model call (default: estimated from the free "
                        "memory of --device; halved and kept whenever a batch runs out of memory)")
