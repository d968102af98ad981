"""``surrogate run``: MD or MC with any integrator and force provider, including trained models."""

from __future__ import annotations

import argparse

from systems.errors import InputError

from .fallback_options import add_fallback_options, attach_thermo_fields, build_fallback, fallback_requested, report
from .options import (INTEGRATORS, HelpFormatter, add_config_option, add_dynamics_options, add_output_options,
                      add_provider_options, add_replica_options, add_runaway_options, add_size_options,
                      add_system_options)
from .exact_mc_options import EXACT_MC, add_exact_mc_options

DESCRIPTION = """\
Run molecular dynamics or Monte Carlo with any force provider: a trained EGNN
model (--model egnn.pt), an LSTM large-timestep operator (--integrator lstm
--model lstm.pt), a classical potential, a named reference (--reference xtb,
gfn1, emt, ase:module:Class), an ASE calculator or OpenMM. Writes
the same files as surrogate generate, so the result can be compared with a
reference by surrogate compare.
"""

EPILOG = """\
examples:
  surrogate run --model egnn-model/best.pt --time-ps 10 --out egnn        # liquid argon with an EGNN
  surrogate run --model egnn-model/best.pt --system reference/trajectory.extxyz --frame -1 --out egnn
  surrogate run --integrator lstm --model lstm.pt --system lj-cluster --n-atoms 16 --out lstm
  surrogate run --integrator mc --steps 2000 --out mc                       # Metropolis MC, classical LJ
  surrogate run --model egnn-model/best.pt --n-atoms 64 --replicas 64 --out ens  # 64 seeds, one model call a step
  surrogate run --integrator nested-mc --model egnn.pt --reference emt --system bulk:Cu --inner-steps 10 \
      --steps 500 --out exact-mc      # MC exact under EMT; the EGNN proposes, one EMT call per 10 sweeps
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="MD/MC with any integrator and force provider, incl. EGNN and LSTM models",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_config_option(p)
    add_system_options(p)
    add_provider_options(p, models=True)
    add_dynamics_options(p, integrators=INTEGRATORS + ("lstm",) + EXACT_MC)
    add_exact_mc_options(p)
    p.add_argument("--energy-correction", action="store_true",
                   help="LSTM operators: rescale momenta every stride so the total energy (with the warm-up "
                        "potential) stays at its initial value")
    p.add_argument("--force-model", default=None, metavar="FILE.pt",
                   help="--integrator lstm: an EGNN model file (surrogate train egnn) giving the operator's warm-up "
                        "forces (and a force-input operator's forces every stride)")
    add_output_options(p, "run")
    add_size_options(p)
    add_runaway_options(p)
    add_replica_options(p)
    add_fallback_options(p)
    p.set_defaults(func=main, _parser=p, _section="run")
    return p


def main(args) -> int:
    from .builders import (Setup, build_integrator, build_provider, build_system, check_resume, check_simulation_size,
                           check_size_before_build, default_timestep_fs)
    from .simulate import run_simulation

    if args.replicas and fallback_requested(args):
        raise InputError("--replicas runs the replicas in lock step on one model; the on-the-fly fallback "
                         "(--max-force-std) runs one system at a time: drop one of them")
    if args.replicas:  # B replicas in lock step: surrogate/cli/replicas.py
        from .replicas import run_replicas

        return run_replicas(args)
    check_size_before_build(args)
    system, topology = build_system(args)
    if args.integrator == "lstm":
        return _run_lstm(args, system, topology)
    if args.integrator in EXACT_MC:
        from .exact_mc_options import run_exact_mc

        return run_exact_mc(args, system, topology)
    if args.force_model:
        raise InputError("--force-model is the EGNN of --integrator lstm; for EGNN MD give the model with --model")
    fallback = fallback_requested(args)
    if args.retrain_every is not None and not fallback:
        raise InputError("--retrain-every needs --max-force-std (the on-the-fly fallback)")
    provider, name, stress = (build_fallback(args, system) if fallback
                              else build_provider(args, system, allow_model=True))
    if topology is None and getattr(provider, "topology", None) is not None:
        topology = provider.topology
    setup = Setup(system, topology, provider, name, stress)
    timestep_fs = args.timestep_fs or default_timestep_fs(system)
    check_simulation_size(args, system, provider, timestep_fs, args.integrator == "mc")
    integrator = build_integrator(args, provider, system, timestep_fs)
    if fallback:
        attach_thermo_fields(integrator, provider)
    check_resume(args, system, integrator, provider)
    try:
        run_simulation(args, setup, integrator, description={"kind": "egnn" if args.model else "classical",
                                                             "model": args.model})
    finally:
        if fallback:
            report(args, provider)
    return 0


def _run_lstm(args, system, topology) -> int:
    """A learned large-stride operator: the flat LSTM (kind "lstm") or the many-body one ("lstm_manybody")."""
    from systems import units

    from .builders import (Setup, build_provider, check_device, check_resume, check_simulation_size,
                           classical_potential, default_potential, default_timestep_fs, model_kind)
    from .simulate import run_simulation

    from .constraint_options import build_constraints
    from .npt_options import refuse_npt

    refuse_npt(args, "--integrator lstm")
    build_constraints(args, system)  # refuses --constraints/--fix-atoms/--fix-com: an operator cannot hold them
    if not args.model:
        raise InputError("--integrator lstm needs --model (an operator file from surrogate train lstm)")
    kind = model_kind(args.model)
    if kind not in ("lstm", "lstm_manybody"):
        raise InputError(f"--model {args.model} holds a {kind!r} model; --integrator lstm needs an LSTM operator "
                         "from surrogate train lstm")
    check_device(args.device)
    given = [flag for flag, value in (("--reference", args.reference), ("--ase-calculator", args.ase_calculator),
                                      ("--forcefield", args.forcefield), ("--force-model", args.force_model)) if value]
    if len(given) > 1:
        raise InputError(f"--integrator lstm: choose one source of forces, got {' and '.join(given)}")
    if given and (args.warmup_potential or args.potential):
        raise InputError(f"--integrator lstm: give {given[0]} or --warmup-potential/--potential for the "
                         "operator's warm-up forces, not both")
    if args.force_model:  # an EGNN: the operator's whole dynamics is learned
        from .builders import egnn_provider

        warmup, warmup_text = egnn_provider(args.force_model, args, system), f"EGNN {args.force_model}"
    elif given:  # the window (and a force-input operator's forces) from any provider, e.g. --reference xtb
        if args.warmup_potential or args.potential:
            raise InputError(f"--integrator lstm: give {given[0]} or --warmup-potential/--potential for the "
                             "operator's warm-up forces, not both")
        warmup, warmup_text, _ = build_provider(args, system, allow_model=False)
    else:
        warmup_name = args.warmup_potential or default_potential(system)
        if warmup_name is None:
            raise InputError("--integrator lstm needs --warmup-potential (the classical potential of its first "
                             "window) or another source of forces (--reference, --ase-calculator)")
        warmup, warmup_text = classical_potential(warmup_name, system, args)
    if kind == "lstm":
        from surrogate.lstm import LSTMOperatorIntegrator

        integrator = LSTMOperatorIntegrator(args.model, warmup, energy_correction=args.energy_correction,
                                            device=args.device, dtype=args.dtype)
        verlet_fs = integrator.verlet_timestep / units.fs
    else:
        from surrogate.lstm.manybody import ManyBodyOperatorIntegrator

        verlet_fs = args.timestep_fs or default_timestep_fs(system)
        # A force_input operator evaluates the warm-up potential once per stride (its forces are an input).
        integrator = ManyBodyOperatorIntegrator(args.model, warmup, verlet_timestep=verlet_fs * units.fs,
                                                energy_correction=args.energy_correction, device=args.device)
        if integrator.force_input:
            warmup_text += "; its forces are an operator input, one evaluation per stride"
    stride_fs = integrator.timestep / units.fs
    check_simulation_size(args, system, integrator, stride_fs, False)
    check_resume(args, system, integrator, warmup)
    setup = Setup(system, topology, warmup, f"LSTM operator {args.model}, stride {stride_fs:.4g} fs "
                                            f"(warm-up: {warmup_text})", False)
    run_simulation(args, setup, integrator, description={"kind": kind, "model": args.model, "stride_fs": stride_fs,
                                                         "verlet_timestep_fs": verlet_fs},
                   equilibrate_timestep_fs=verlet_fs)
    return 0
