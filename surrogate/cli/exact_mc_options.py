"""``surrogate run --integrator da-mc|nested-mc``: Monte Carlo exact under a reference, screened by a surrogate.

The surrogate is ``--model SURROGATE.pt`` (an EGNN; or a classical ``--potential``), the reference is
``--reference NAME`` (or ``--ase-calculator``, ``--forcefield``). The chain's stationary distribution is the
reference's Boltzmann distribution (:mod:`integrators.delayed_acceptance`, :mod:`integrators.nested_mc`);
the thermodynamic log reports the reference's energy, the acceptance rates and the reference calls so far.
"""

from __future__ import annotations

import argparse

from systems.errors import InputError

from .options import positive_int

#: The --integrator names of the exact MC methods.
EXACT_MC = ("da-mc", "nested-mc")


def add_exact_mc_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("exact surrogate-accelerated Monte Carlo (--integrator da-mc | nested-mc)")
    g.add_argument("--inner-steps", type=positive_int, default=10, metavar="N",
                   help="nested-mc: surrogate MC sweeps per outer proposal (one reference call each)")
    g.add_argument("--mc-mode", choices=("single", "all"), default=None,
                   help="moves: single-particle sweeps or all-particle moves (default: all for da-mc, whose every "
                        "stage-1 survivor costs a reference call; single for nested-mc's surrogate chain)")


def run_exact_mc(args, system, topology) -> int:
    """Build the surrogate, the reference and the exact MC integrator, then run like any ``surrogate run``."""
    from integrators import DelayedAcceptanceMC, NestedMC

    from .builders import (Setup, build_provider, check_resume, check_simulation_size, classical_potential,
                           egnn_provider)
    from .simulate import run_simulation

    flag = f"--integrator {args.integrator}"
    if args.model:
        surrogate, surrogate_text = egnn_provider(args.model, args, system), f"EGNN {args.model}"
    elif args.potential:
        surrogate, surrogate_text = classical_potential(args.potential, system, args)
    else:
        raise InputError(f"{flag} needs a surrogate: --model SURROGATE.pt (or a classical --potential)")
    if not (args.reference or args.ase_calculator or args.forcefield):
        raise InputError(f"{flag} needs the reference it is exact under: --reference NAME (xtb, emt, ...), "
                         "--ase-calculator or --forcefield")
    ref_args = argparse.Namespace(**vars(args))
    ref_args.potential, ref_args.model = None, None  # those name the surrogate here
    reference, reference_text, stress = build_provider(ref_args, system, allow_model=False)
    if args.integrator == "da-mc":
        integrator = DelayedAcceptanceMC(surrogate, reference, temperature_K=args.temperature_K,
                                         step_size=args.mc_step_size, mode=args.mc_mode or "all", seed=args.seed)
    else:
        integrator = NestedMC(surrogate, reference, temperature_K=args.temperature_K, inner_steps=args.inner_steps,
                              step_size=args.mc_step_size, mode=args.mc_mode or "single", seed=args.seed)
    check_simulation_size(args, system, reference, 1.0, True)
    check_resume(args, system, integrator, reference)
    setup = Setup(system, topology, reference, f"{reference_text}, screened by {surrogate_text}", stress)
    run_simulation(args, setup, integrator, description={"kind": args.integrator, "model": args.model,
                                                         "surrogate": surrogate_text, "reference": reference_text})
    return 0
