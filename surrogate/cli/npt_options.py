"""``--ensemble npt`` of ``surrogate run`` / ``generate``: the barostat options and the NPT wrapping."""

from __future__ import annotations

import argparse

from systems.errors import InputError

ENSEMBLES = ("fixed-cell", "npt")
BAROSTATS = ("crescale", "mc")


def _finite_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def add_npt_options(parser: argparse.ArgumentParser) -> None:
    """The pressure options (a group of their own)."""
    from .options import positive_float, positive_int

    g = parser.add_argument_group("pressure (NPT)")
    g.add_argument("--ensemble", choices=ENSEMBLES, default="fixed-cell",
                   help="fixed-cell: the cell never changes (NVE or NVT, as --integrator says); npt: a barostat "
                        "changes the cell around --integrator langevin or bussi (the cell must be periodic)")
    g.add_argument("--pressure-bar", type=_finite_float, default=1.0, help="NPT target pressure (bar)")
    g.add_argument("--barostat", choices=BAROSTATS, default="crescale",
                   help="crescale: stochastic cell rescaling (Bernetti & Bussi 2020; needs the stress); mc: Monte "
                        "Carlo volume moves (energies only, as OpenMM's MonteCarloBarostat)")
    g.add_argument("--tau-p-fs", type=positive_float, default=None,
                   help="crescale: volume relaxation time (fs); default 500 timesteps")
    g.add_argument("--compressibility", type=positive_float, default=None, metavar="PER_BAR",
                   help="crescale: isothermal compressibility assumed by the coupling (1/bar); default 4.5e-5 "
                        "(water; sets only how fast the volume relaxes, not what is sampled)")
    g.add_argument("--coupling", choices=("isotropic", "anisotropic"), default="isotropic",
                   help="crescale: one scale for the three axes, or one per Cartesian axis")
    g.add_argument("--barostat-interval", type=positive_int, default=None,
                   help="MD steps between barostat moves (default 10 for crescale, 25 for mc)")


def refuse_npt(args, what: str) -> None:
    """InputError when ``--ensemble npt`` is given to an integrator that cannot carry a barostat."""
    if getattr(args, "ensemble", "fixed-cell") == "npt":
        raise InputError(f"--ensemble npt needs --integrator langevin or bussi (a thermostat); {what} cannot "
                         "carry a barostat")


def wrap_npt(args, integrator, system, provider):
    """``integrator`` itself, or with ``--ensemble npt`` an :class:`~integrators.npt.NPT` around it.

    Refuses (InputError naming the flag) NVE or Monte Carlo integrators, a cell that is not periodic on
    all three axes, and with ``--barostat crescale`` a provider that returns no stress (one evaluation of the
    start state asks).
    """
    if getattr(args, "ensemble", "fixed-cell") != "npt":
        for flag, default in (("tau_p_fs", None), ("compressibility", None), ("barostat_interval", None)):
            if getattr(args, flag, default) is not None:
                raise InputError(f"--{flag.replace('_', '-')} applies only with --ensemble npt")
        return integrator
    from integrators.barostat_crescale import WATER_COMPRESSIBILITY_PER_BAR, CRescaleBarostat
    from integrators.barostat_mc import MonteCarloBarostat
    from integrators.npt import NPT, check_npt_system

    if args.integrator not in ("langevin", "bussi"):
        refuse_npt(args, f"--integrator {args.integrator}" + (" (NVE, no temperature)" if args.integrator == "verlet"
                                                              else ""))
    try:
        check_npt_system(system)
    except InputError as err:
        raise InputError(f"--ensemble npt: {err} (--system {args.system or 'liquid-argon'})") from None
    seed = int(args.seed) + 104729  # its own stream, apart from the thermostat's
    if args.barostat == "crescale":
        if provider.compute(system, stress=True).stress is None:
            raise InputError("--barostat crescale needs the stress, and this force provider returns none; use "
                             "--barostat mc (energies only)")
        compressibility = args.compressibility or WATER_COMPRESSIBILITY_PER_BAR
        barostat = CRescaleBarostat(args.pressure_bar, tau_p_fs=args.tau_p_fs, compressibility_per_bar=compressibility,
                                    coupling=args.coupling, interval=args.barostat_interval or 10, seed=seed)
    else:
        for flag in ("tau_p_fs", "compressibility"):
            if getattr(args, flag) is not None:
                raise InputError(f"--{flag.replace('_', '-')} is a C-rescale setting; --barostat mc has none")
        if args.coupling != "isotropic":
            raise InputError("--barostat mc moves the volume isotropically; --coupling anisotropic needs crescale")
        barostat = MonteCarloBarostat(args.pressure_bar, interval=args.barostat_interval or 25, seed=seed)
    return NPT(integrator, barostat)
