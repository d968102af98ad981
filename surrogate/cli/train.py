"""``surrogate train egnn|lstm``: fit a surrogate to reference trajectories."""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

from systems.errors import InputError
from systems.output_lock import holds_output_lock

from ..config import write_resolved_config
from .options import (POTENTIALS, HelpFormatter, add_config_option, add_size_options, non_negative_float,
                      non_negative_int, positive_float, positive_int)

DESCRIPTION = """\
Train a surrogate on reference data:
  egnn  an E(n)-equivariant graph network energy model (forces by autograd)
        from frames with energies and forces (extxyz, ASE .traj, ...)
  lstm  a large-timestep operator: the state one stride Δ_R later from a window
        of past states. Either the flat LSTM of Kadupitiya, Fox and Jadhao (2020)
        for a fixed small system (operator data .npz, or --generate it), or a
        per-atom LSTM with EGNN message passing for any N (an MD trajectory
        with velocities, e.g. liquid argon from surrogate generate)
"""

LSTM_EPILOG = """\
examples:
  # the paper's 16-particle LJ system: generate 200 Verlet trajectories, train Δ_R = 100 Δ
  surrogate train lstm --generate lj-cluster --n-particles 16 --n-trajectories 200 --stride-steps 100 --out lstm16
  surrogate run --integrator lstm --model lstm16/best.pt --system lj-cluster --n-atoms 16 --steps 1000 --out lstm-run
  # many-body operator on a liquid-argon trajectory, Δ_R = 50 fs (10 Verlet steps of 5 fs)
  surrogate train lstm reference/trajectory.extxyz --stride-fs 50 --out lstm-argon
  # force-informed: also reads the window's forces (the file's, or lj-argon's); noisy copies with Verlet targets
  surrogate train lstm reference/trajectory.extxyz --stride-fs 50 --force-input --out lstm-argon-f
  surrogate run --integrator lstm --model lstm-argon/best.pt --system reference/trajectory.extxyz --out lstm-md
"""

#: Data the flat LSTM can generate itself (``--generate``).
GENERATED = ("lj-cluster", "harmonic", "double_well", "lj", "rugged")


EGNN_DESCRIPTION = """\
Train an EGNN energy model (Satorras, Hoogeboom, Welling 2021) on frames with
energies (eV) and forces (eV/Å), e.g. the extxyz of surrogate generate. The
loss weighs the per-atom energy error, the force error and, for periodic frames
that all carry a stress (extxyz `stress`), the virial per atom. Energies are
referenced per composition, so a single-molecule set leaves no constant offset.
Validation and the saved model use an exponential moving average of the weights
(--ema-decay). The best model (by validation loss) is written to OUT/best.pt,
with metrics.csv and a checkpoint for --resume; --time-budget stops cleanly.
Use it with surrogate run --model OUT/best.pt or ASE's SurrogateCalculator.
"""

EGNN_EPILOG = """\
examples:
  surrogate train egnn reference/trajectory.extxyz --out egnn-model
  # a committee of 4 (OUT/committee.pt): surrogate run --model egnn-4/committee.pt logs its spread
  surrogate train egnn reference/trajectory.extxyz --committee 4 --threads 4 --time-budget 10 --out egnn-4
  surrogate train egnn cu.extxyz --cutoff 5 --hidden 64 --layers 4 --max-epochs 300 --device cuda --out cu-model
  torchrun --nproc-per-node 4 -m surrogate.cli train egnn data.extxyz --device cuda --out big-model
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train an EGNN force model or an LSTM large-timestep operator",
                              description=DESCRIPTION, formatter_class=HelpFormatter)
    kinds = p.add_subparsers(dest="model_kind", metavar="MODEL", title="models")
    kinds.required = True
    _add_egnn(kinds)
    _add_lstm(kinds)
    return p


def _add_common(p) -> None:
    add_config_option(p)
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (model file, metrics, config.yaml)")
    p.add_argument("--max-epochs", type=positive_int, default=200, help="training epochs at most")
    p.add_argument("--batch-size", type=positive_int, default=None, help="samples per optimisation step")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and shuffling")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, ...")
    p.add_argument("--resume", action="store_true", help="continue an interrupted training from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="draw no progress bar")


def _add_egnn(kinds) -> None:
    p = kinds.add_parser("egnn", help="EGNN energy/force model", description=EGNN_DESCRIPTION, epilog=EGNN_EPILOG,
                         formatter_class=HelpFormatter)
    p.add_argument("data", nargs="*", metavar="DATA",
                   help="training trajectories with energies and forces (several files are concatenated)")
    _add_common(p)
    p.add_argument("--stride", type=positive_int, default=1, help="use every STRIDE-th frame of DATA")
    p.add_argument("--top", default=None, metavar="FILE",
                   help="topology (e.g. a PDB) of DATA in a format without atom names (xtc, trr, dcd, nc)")
    p.add_argument("--val-fraction", type=non_negative_float, default=0.1, help="share of the frames held out")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="model precision")
    g = p.add_argument_group("EGNN model")
    g.add_argument("--cutoff", type=positive_float, default=5.0, help="graph cutoff (Å)")
    g.add_argument("--hidden", type=positive_int, default=64, help="features per node")
    g.add_argument("--layers", type=positive_int, default=4, help="EGNN layers")
    g.add_argument("--energy-weight", type=non_negative_float, default=1.0, help="loss weight of the energy term")
    g.add_argument("--force-weight", type=non_negative_float, default=10.0, help="loss weight of the force term")
    g.add_argument("--stress-weight", type=non_negative_float, default=None,
                   help="loss weight of the stress term, on the virial per atom σ·V/n in eV/atom (default 10, like "
                        "the force weight, when every frame is periodic with a stress, else 0)")
    g.add_argument("--ema-decay", type=_ema_decay, default=0.99,
                   help="exponential moving average of the weights, used for validation and the saved model "
                        "(0 turns it off)")
    g.add_argument("--time-budget", type=positive_float, default=None, metavar="MINUTES",
                   help="stop training cleanly after this many minutes, keeping the best model")
    g.add_argument("--pair-repulsion", choices=("zbl",), default=None,
                   help="add the ZBL nuclear repulsion, switched off at each element pair's closest approach in the "
                        "training data: zero on the data, it keeps MD out of close contacts the data never showed")
    g.add_argument("--bond-edges", choices=("none", "covalent", "topology"), default="none",
                   help=BOND_EDGES_HELP)
    g.add_argument("--committee", type=positive_int, default=1, metavar="K",
                   help="train K members (seeds SEED+k, bootstrap resamples of the training frames, one shared "
                        "validation split) into one model file OUT/committee.pt, whose runs report the members' "
                        "spread (energy_std, forces_std); members train in parallel, one thread each, on up to "
                        "--threads processes; --time-budget applies to each member; --resume keeps finished "
                        "members (default 1: one model, OUT/best.pt)")
    add_size_options(p, output=False)
    p.set_defaults(func=main_egnn, _parser=p, _section="train-egnn", out="egnn-model")


#: Help of --bond-edges, with what the option was measured to do.
BOND_EDGES_HELP = (
    "bond-typed edge attributes (the EGNN paper's a_ij): a one-hot bonded/non-bonded flag on every edge, from "
    "covalent radii (pairs closer than 1.2 × the sum of the radii in the first frame, then fixed) or from the "
    "bonds of the topology (--top, or the data's own); the model file keeps the rule, the bonds are derived "
    "again from the simulated system. All frames must be one system. Measured on GFN2-xTB aspirin (300 frames "
    "of benchmarks/data, 32×2 model, one thread on a busy 2-core machine, held-out force MAE on the 101 test "
    "frames, without → covalent): 3 min budget 297 → 237 meV/Å (seed 0) and 376 → 267 (seed 1); 6 min 234 → 218 "
    "and 203 → 193. They help most early in training; the gain shrinks to 5-7%% with a longer budget; the cost "
    "per epoch is unchanged"
)


def _ema_decay(text: str) -> float:
    value = non_negative_float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1) (0 turns the EMA off), got {text}")
    return value


def _add_lstm(kinds) -> None:
    p = kinds.add_parser("lstm", help="LSTM large-timestep operator (flat, paper; or many-body, any N)",
                         description=DESCRIPTION, epilog=LSTM_EPILOG, formatter_class=HelpFormatter)
    p.add_argument("data", nargs="?", default=None, metavar="DATA",
                   help="operator data (.npz of many Verlet trajectories) for the flat LSTM, or an MD trajectory "
                        "with velocities for the many-body operator")
    _add_common(p)
    p.add_argument("--val-fraction", type=positive_float, default=0.2, help="share of the data held out")
    p.add_argument("--window", type=positive_int, default=5, help="past states the operator reads")
    g = p.add_argument_group("flat LSTM (paper)")
    g.add_argument("--generate", choices=GENERATED, default=None,
                   help="generate the operator data first (saved as OUT/data.npz): the periodic LJ system of "
                        "lj-cluster, or 1D particles in a harmonic/double_well/lj/rugged potential")
    g.add_argument("--n-particles", type=positive_int, default=16, help="particles of --generate lj-cluster")
    g.add_argument("--n-trajectories", type=positive_int, default=None,
                   help="Verlet trajectories to generate (default 200; --preset paper: 500)")
    g.add_argument("--t-max", type=positive_float, default=100.0, help="length of each trajectory (reduced time τ)")
    g.add_argument("--save-every", type=positive_int, default=100,
                   help="Verlet steps (Δ = 0.001 τ) between kept states")
    g.add_argument("--stride-steps", type=positive_int, default=None,
                   help="Δ_R in Verlet steps (a multiple of the data's save-every), e.g. 100 for Δ_R = 0.1 τ")
    g.add_argument("--lstm-units", type=positive_int, nargs="+", default=[32, 32], help="units of each LSTM layer")
    g.add_argument("--dense", type=positive_int, default=96, help="units of the dense layer")
    g.add_argument("--dropout", type=non_negative_float, default=0.15, help="dropout between layers")
    g.add_argument("--max-windows", type=positive_int, default=None, help="cap on training windows (seeded subset)")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="model precision")
    g.add_argument("--states-only", action="store_true",
                   help="the paper's inputs only: do not feed the swept mass and potential parameters of 1D "
                        "oscillators to the model (it then has to infer them from the window)")
    q = p.add_argument_group("paper preset and window operators (Kadupitiya, Fox, Jadhao 2020; issue #13)")
    q.add_argument("--preset", choices=("paper",), default=None,
                   help="paper: one 1D model per potential and stride as in the paper (positions only in, next "
                        "position out, LSTM 32/32, float64, window 5, the paper's data ranges); needs --potential "
                        "and --stride; the data is generated (OUT/data.npz)")
    q.add_argument("--potential", choices=("harmonic", "lj", "double-well", "rugged"), default=None,
                   help="1D potential of --preset paper")
    q.add_argument("--stride", type=positive_int, choices=(100, 400, 1000, 4000), default=None,
                   help="Δ_R in Verlet steps (Δ = 0.001) of --preset paper")
    q.add_argument("--arch", choices=("lstm", "attention"), default="lstm",
                   help="sequence body: the LSTM, or a small causal transformer over the window")
    q.add_argument("--head", choices=("increment", "linear", "reversible", "stormer"), default="increment",
                   help="--preset paper: the paper's increment head; a linear recurrence x_{n+1} = Σ a_j x_j + b "
                        "with learned coefficients (it can represent the exact harmonic stride map); or a learned "
                        "Störmer map x_{n+1} = G(x_n) − x_{n−1} (time-reversible, area-preserving); stormer: "
                        "G = 2cos(θ)x + b with θ, b from the conditions only (harmonic; needs "
                        "--conditions, e.g. omega)")
    q.add_argument("--condition-on-parameters", action="store_true",
                   help="--preset paper: also feed the mass (and k) of each trajectory (not the paper's inputs)")
    q.add_argument("--conditions", default=None, metavar="NAMES",
                   help="--preset paper: comma-separated per-trajectory inputs instead of "
                        "--condition-on-parameters: mass, k, omega (= √(k/m), harmonic), energy (the orbit's total "
                        "energy, eV); e.g. --head stormer --conditions omega, or --head reversible --conditions "
                        "mass,energy")
    q.add_argument("--widths", default=None, metavar="W1,W2,...",
                   help="--preset paper: body (or the reversible/stormer MLP) widths instead of the paper's 32,32")
    q.add_argument("--polish-steps", type=non_negative_int, default=None,
                   help="--preset paper: L-BFGS polish iterations after Adam (0: none; default: the recipe's)")
    q.add_argument("--unroll", type=positive_int, default=1,
                   help="--preset paper: train on K-stride closed-loop unrolls (1: teacher forcing, the paper)")
    q.add_argument("--unroll-noise", type=non_negative_float, default=0.0,
                   help="--preset paper: noise on the first window of each unroll, as a fraction of the increment "
                        "range")
    q.add_argument("--time-budget", type=positive_float, default=None, help="training wall-clock budget (minutes)")
    m = p.add_argument_group("many-body operator (any N)")
    m.add_argument("--stride-fs", type=positive_float, default=None,
                   help="Δ_R in fs: a whole multiple of the trajectory's frame interval")
    m.add_argument("--cutoff", type=positive_float, default=6.0, help="message-passing cutoff (Å)")
    m.add_argument("--hidden", type=positive_int, default=32, help="features per atom")
    m.add_argument("--layers", type=positive_int, default=2, help="EGNN message-passing layers")
    m.add_argument("--force-input", action="store_true",
                   help="the operator also reads the forces of its window (surrogate run then evaluates the "
                        "warm-up potential once per stride): the trajectory's forces, or those of "
                        "--force-potential where the frames have none")
    m.add_argument("--force-potential", choices=POTENTIALS, default=None,
                   help="with --force-input: the classical potential that gives the forces (default: the frames' "
                        "forces, else the species' default, lj-argon for argon); use the same in surrogate run "
                        "--warmup-potential")
    m.add_argument("--input-noise", type=non_negative_float, default=0.0,
                   help="Gaussian noise on the window velocities during training, relative to their RMS")
    m.add_argument("--augment-copies", type=int, default=None,
                   help="noisy copies of every training window with exact targets from Verlet with the force "
                        "potential (default 1 with --force-input, else 0): they keep a rollout stable")
    m.add_argument("--position-noise", type=non_negative_float, default=0.03, help="noise of the copies (Å)")
    m.add_argument("--velocity-noise", type=non_negative_float, default=0.03,
                   help="velocity noise of the copies, relative to the velocities' RMS")
    add_size_options(p, output=False)
    p.set_defaults(func=main_lstm, _parser=p, _section="train-lstm", out="lstm-model")


def _data(args) -> object:
    """One path as is (the trainer streams it), or frames read from several files / with a stride."""
    if not args.data:
        raise InputError("give the training data: one or more trajectory files (DATA)")
    for path in args.data:
        if not os.path.exists(path):
            raise InputError(f"training data {path!r} does not exist")
    top = getattr(args, "top", None)
    if top is not None and not os.path.isfile(top):
        raise InputError(f"--top {top!r} is not a file")
    from systems.trajectory_reader import read_frames

    from .builders import top_hint

    with top_hint(top):
        _check_egnn_size(args)
        if len(args.data) == 1 and args.stride == 1 and top is None:
            return args.data[0]
        frames = []
        for path in args.data:
            frames.extend(read_frames(path, top=top, stride=args.stride))
    return frames


#: Bytes per atom of a stored training graph (positions, forces, numbers, per-atom buffers).
GRAPH_BYTES_PER_ATOM = 120.0
#: Bytes per directed edge of a stored graph (edge index, shift, vector).
GRAPH_BYTES_PER_EDGE = 48.0


def _check_egnn_size(args) -> None:
    """Refuse, before reading the data, a training set whose graphs (frames × atoms × edges within
    --cutoff) and one batch's activations (edges × hidden × layers) exceed the memory limit."""
    from systems.trajectory_reader import count_frames, read_frames

    from .resources import check_memory, pairs_per_atom, system_density

    graphs, largest = 0.0, 0.0
    total_frames = 0
    for path in args.data:
        first = next(iter(read_frames(path, top=args.top, stop=1)), None)
        if first is None:
            continue
        system = first.to_system()
        n_frames = -(-count_frames(path, top=args.top) // args.stride)
        total_frames += n_frames
        edges = system.n_atoms * pairs_per_atom(system_density(system), args.cutoff, half=False)
        per_frame = system.n_atoms * GRAPH_BYTES_PER_ATOM + edges * GRAPH_BYTES_PER_EDGE
        graphs += n_frames * per_frame
        largest = max(largest, edges)
    dtype_bytes = 8 if args.dtype == "float64" else 4
    batch = (args.batch_size or 8) * largest * args.hidden * args.layers * dtype_bytes * 12.0
    check_memory(args, graphs + batch, f"training on {total_frames} frames of {', '.join(args.data)} "
                                       f"(--stride {args.stride}, --cutoff {args.cutoff:g}, --hidden {args.hidden})")


@holds_output_lock
def main_egnn(args) -> int:
    if not 0.0 <= args.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    from .builders import check_device

    data = _data(args)  # bad input is reported before torch is imported
    check_device(args.device)
    from surrogate.egnn.train import train_egnn

    write_resolved_config(args, args.out)
    kwargs = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k) is not None}
    if args.committee > 1:
        from surrogate.egnn.committee_train import train_committee

        threads = (getattr(args, "_threads", None) or {}).get("threads", 1)  # --threads or the default rule
        train_egnn = partial(train_committee, members=args.committee, workers=min(threads, args.committee))
    path = train_egnn(data, args.out, cutoff=args.cutoff, hidden=args.hidden, layers=args.layers,
                      energy_weight=args.energy_weight, force_weight=args.force_weight,
                      stress_weight=args.stress_weight, ema_decay=args.ema_decay, time_budget_min=args.time_budget,
                      pair_repulsion=args.pair_repulsion, max_epochs=args.max_epochs, bond_edges=args.bond_edges,
                      topology=args.top,
                      val_fraction=args.val_fraction, seed=args.seed, device=args.device, dtype=args.dtype,
                      resume=args.resume, progress=not args.no_progress, **kwargs)
    print(f"model written to {path}", file=sys.stderr)
    print(path)
    return 0


@holds_output_lock
def main_lstm(args) -> int:
    if not 0.0 < args.val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in (0, 1), got {args.val_fraction}")
    if args.generate and args.data:
        raise InputError("give either DATA or --generate, not both")
    if not args.generate and not args.data and args.preset is None:
        raise InputError("give the training data DATA (.npz operator data or an MD trajectory) or --generate")
    if args.data and not os.path.exists(args.data):
        raise InputError(f"training data {args.data!r} does not exist")
    from .builders import check_device

    check_device(args.device)
    flat = bool(args.generate) or str(args.data).endswith(".npz")
    if args.preset == "paper":
        from surrogate.lstm.paper_cli import train_paper_preset

        path = train_paper_preset(args)
    elif flat:
        path = _train_flat(args)
    else:
        path = _train_manybody(args)
    print(f"model written to {path}", file=sys.stderr)
    print(path)
    return 0


def _train_flat(args):
    from surrogate.lstm import generate_lj_data, generate_oscillator_data, save_operator_data, train_lstm

    if args.stride_steps is None:
        raise InputError("the flat LSTM needs --stride-steps (Δ_R in Verlet steps, a multiple of --save-every)")
    if args.generate:  # states of every trajectory (position, velocity; float64) and the windows cut from them
        from surrogate.lstm.data import PAPER_TIMESTEP

        from .resources import check_memory

        n = args.n_particles if args.generate == "lj-cluster" else 1
        states = (args.n_trajectories or 200) * (int(args.t_max / (PAPER_TIMESTEP * args.save_every)) + 1)
        estimate = states * n * 6 * 8.0 * (2 + args.window)
        check_memory(args, estimate, f"--generate {args.generate} with --n-trajectories {args.n_trajectories}, "
                                     f"--t-max {args.t_max:g}, --save-every {args.save_every} ({states} states)")
    write_resolved_config(args, args.out)
    if args.generate:
        kw = dict(n_trajectories=args.n_trajectories or 200, t_max=args.t_max, save_every=args.save_every, seed=args.seed)
        print(f"generating {args.n_trajectories} Verlet trajectories ({args.generate})", file=sys.stderr)
        data = (generate_lj_data(args.n_particles, **kw) if args.generate == "lj-cluster"
                else generate_oscillator_data(args.generate, **kw))
        data_path = save_operator_data(data, Path(args.out) / "data.npz")
        print(f"operator data written to {data_path}", file=sys.stderr)
    else:
        data = args.data
    kwargs = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k) is not None}
    return train_lstm(data, args.out, stride_steps=args.stride_steps, window=args.window,
                      hidden=tuple(args.lstm_units), dense=args.dense, max_epochs=args.max_epochs,
                      dropout=args.dropout, seed=args.seed, device=args.device, dtype=args.dtype, resume=args.resume,
                      val_fraction=args.val_fraction, max_windows=args.max_windows, progress=not args.no_progress,
                      conditions=() if args.states_only else "auto", arch=args.arch, **kwargs)


def _train_manybody(args):
    import numpy as np

    from surrogate.compare.dynamics import unwrap
    from surrogate.lstm.manybody import train_manybody
    from systems import units
    from systems.trajectory_reader import read_frames

    if args.stride_fs is None:
        raise InputError("the many-body operator needs --stride-fs (Δ_R in fs, a multiple of the frame interval)")
    _check_manybody_size(args)
    frames = list(read_frames(args.data))
    if len(frames) < 2 or any(f.time is None for f in frames) or any(f.velocities is None for f in frames):
        raise InputError(f"{args.data}: the many-body operator needs frames with times and velocities "
                         "(extxyz or traj from surrogate generate)")
    interval_fs = (frames[1].time - frames[0].time) / units.fs
    every = args.stride_fs / interval_fs
    if abs(every - round(every)) > 1e-6 or round(every) < 1:
        raise InputError(f"--stride-fs {args.stride_fs:g} is not a whole multiple of the frame interval "
                         f"{interval_fs:g} fs of {args.data}")
    frames = frames[::int(round(every))]
    cells = np.array([f.cell if f.cell is not None else np.zeros((3, 3)) for f in frames])
    pbc = frames[0].pbc
    positions = unwrap(np.array([f.positions for f in frames]), cells if pbc.all() else None)
    velocities = np.array([f.velocities for f in frames])
    masses = frames[0].masses if frames[0].masses is not None else frames[0].to_system().masses
    system_info = {"source": str(args.data), "n_atoms": int(len(masses))}
    forces, provider = None, None
    copies = args.augment_copies if args.augment_copies is not None else (1 if args.force_input else 0)
    if copies < 0:
        raise InputError(f"--augment-copies must be ≥ 0, got {copies}")
    if args.force_input:
        forces, provider, system_info["forces"] = _manybody_forces(args, frames)
    elif args.force_potential and copies == 0:
        raise InputError("--force-potential only matters with --force-input or --augment-copies")
    reference_map = None
    if copies > 0:  # the exact targets of noisy windows: Verlet at surrogate run's default timestep
        from surrogate.lstm.manybody import verlet_stride_map

        from .builders import default_timestep_fs

        template = frames[0].to_system()
        if provider is None:
            _, provider, _ = _manybody_forces(args, frames, need_provider=True)
        dt_fs = default_timestep_fs(template)
        steps = args.stride_fs / dt_fs
        if abs(steps - round(steps)) > 1e-6:
            raise InputError(f"--augment-copies: --stride-fs {args.stride_fs:g} is not a whole number of Verlet "
                             f"steps of {dt_fs:g} fs")
        reference_map = verlet_stride_map(template, provider, dt_fs * units.fs, int(round(steps)))
        system_info["augment"] = {"copies": copies, "verlet_fs": dt_fs}
    write_resolved_config(args, args.out)
    kwargs = {k: getattr(args, k) for k in ("batch_size", "lr") if getattr(args, k) is not None}
    return train_manybody(positions, velocities, masses, cells[0], pbc, args.out, stride=args.stride_fs * units.fs,
                          cutoff=args.cutoff, window=args.window, hidden=args.hidden, layers=args.layers,
                          max_epochs=args.max_epochs, seed=args.seed, device=args.device,
                          val_fraction=args.val_fraction, progress=not args.no_progress, resume=args.resume,
                          force_input=args.force_input, forces=forces, force_provider=provider,
                          numbers=frames[0].numbers, input_noise=args.input_noise, augment_copies=copies,
                          position_noise=args.position_noise, velocity_noise=args.velocity_noise,
                          reference_map=reference_map, system_info=system_info, **kwargs)


def _check_manybody_size(args) -> None:
    """Refuse, before reading the trajectory, a many-body operator training whose frames (positions,
    velocities, forces; float64), windows and one batch's messages (edges within --cutoff × --hidden ×
    --layers × --window) exceed the memory limit."""
    from systems.trajectory_reader import count_frames, read_frames

    from .resources import check_memory, pairs_per_atom, system_density

    first = next(iter(read_frames(args.data, stop=1)), None)
    if first is None:
        return
    system = first.to_system()
    n_frames = count_frames(args.data)
    copies = args.augment_copies if args.augment_copies is not None else (1 if args.force_input else 0)
    stored = n_frames * system.n_atoms * 9 * 8.0 * (2 + args.window) * (1 + max(0, copies))
    edges = system.n_atoms * pairs_per_atom(system_density(system), args.cutoff, half=False)
    batch = (args.batch_size or 8) * edges * args.hidden * args.layers * args.window * 4 * 12.0
    check_memory(args, stored + batch, f"training on {n_frames} frames of {system.n_atoms} atoms of {args.data} "
                                       f"(--window {args.window}, --cutoff {args.cutoff:g}, --hidden {args.hidden})")


def _manybody_forces(args, frames, need_provider=False):
    """(forces [T, n, 3] eV/Å or None, provider or None, description) for a --force-input operator
    (``need_provider``: also the potential, for the Verlet targets of --augment-copies).

    The frames' own forces unless --force-potential is given; else the classical potential that
    surrogate run would pick for the species (its default cutoff), so that training and rollout agree.
    """
    import argparse as _argparse

    import numpy as np

    from .builders import classical_potential, default_potential

    forces = None
    if args.force_potential is None and all(f.forces is not None for f in frames):
        forces = np.array([f.forces for f in frames])
        if not need_provider:
            return forces, None, f"read from {args.data}"
    system = frames[0].to_system()
    name = args.force_potential or default_potential(system)
    if name is None:
        fix = "or --augment-copies 0" if need_provider else "or a trajectory with forces"
        raise InputError(f"--force-input/--augment-copies: {args.data} has no default potential for its "
                         f"species; give --force-potential ({', '.join(POTENTIALS)}) {fix}")
    # The run command's provider options at their defaults (--cutoff here is the message-passing cutoff).
    provider_args = _argparse.Namespace(cutoff=None, epsilon=None, sigma=3.405)
    provider, text = classical_potential(name, system, provider_args)
    return forces, provider, f"read from {args.data}" if forces is not None else f"{name}: {text}"
