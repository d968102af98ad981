"""``surrogate compare``: how far runs are from a reference, with an exit status for CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from systems.errors import InputError
from systems.output_lock import holds_output_lock

from ..compare.distances import Tolerances, parse_tolerance
from ..config import load_yaml_mapping, write_resolved_config
from .options import HelpFormatter, add_config_option, positive_float, positive_int

DESCRIPTION = """\
Compare one or more runs (SURR) with a reference run (REF): structure (RDF per
element pair; bond-length and angle distributions for molecules), dynamics
(MSD and diffusion coefficient, velocity autocorrelation and its spectrum),
thermodynamics (potential/kinetic energy and temperature distributions,
energy drift per atom per ps) and cost (wall time per simulated ns, ns/day,
speedup, from run_info.json beside each trajectory).

Writes OUT/report.html (self-contained, open it in a browser), OUT/report.md
with the PNG plots beside it, and OUT/comparison.json with every number.

Distances and their default tolerances (dimensionless):
  rdf          max over pairs of ∫|g_s − g_r| dr / ∫ g_r dr          0.05
  diffusion    |D_s − D_r| / max(|D_r|, 0.01 Å²/ps)                  0.35
  vacf         RMS of the normalised VACF difference over 0–1 ps     0.10
  temperature  |⟨T_s⟩ − ⟨T_r⟩| / ⟨T_r⟩                                 0.10
  force        RMSE(F_s − F_r) / RMS(F_r) on the same frames: both
               files carry forces for the same configurations, or
               --force-model evaluates a model on REF's frames       0.20
  bond, angle  max over types of ∫|p_s − p_r| (0 … 2)                0.30
  drift        |energy drift| of SURR in meV/atom/ps (= eV/atom/ns)  0.1
               (NVE runs only: skipped for a run whose run_info.json
               names a thermostat, e.g. Langevin)
A distance within the reference's own noise (the same distance between the
first and second half of REF, or REF against --ref-repeats) passes:
value <= max(tolerance, noise), unless --no-noise. Means carry
block-averaging error bars; plots shade REF ± its noise.
Every run is cut to the shortest simulated time among them. Temperatures use
one degrees-of-freedom rule for every file (stated in the report). Bonds and
angles come from the topology's bonds, else from covalent radii of REF's
first frame; diffusion is skipped for a single molecule without a box.
Velocities come from the trajectory when stored; otherwise from central
finite differences of positions (needs closely spaced frames).

Exit status: 0 every judged distance is within tolerance, 1 some distance is
out of tolerance, 2 bad arguments or unreadable input.
"""

EPILOG = """\
examples:
  surrogate compare reference/trajectory.extxyz egnn/trajectory.extxyz --out comparison
  surrogate compare ref.xtc surr.xtc --top native.pdb --dt-ps 0.01 --tol-rdf 0.08 --out cmp
  surrogate compare ref/trajectory.extxyz egnn/trajectory.extxyz lstm/trajectory.extxyz --labels classical egnn lstm
  surrogate compare ref.extxyz surr.extxyz --tolerances tol.yaml      # tol.yaml: {rdf: 0.1, drift: 0.01}
  surrogate compare ref/trajectory.extxyz egnn/trajectory.extxyz --reference xtb   # REF's forces against GFN2-xTB
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compare", help="compare runs with a reference: structure, dynamics, thermo, cost",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_config_option(p)
    p.add_argument("ref", nargs="?", default=None, metavar="REF", help="reference trajectory (classical MD)")
    p.add_argument("surr", nargs="*", default=None, metavar="SURR", help="trajectories to compare with REF")
    p.add_argument("--top", default=None, metavar="FILE.pdb",
                   help="topology for formats without atoms (xtc, dcd, ...); its bonds give bond/angle distributions "
                        "(default: topology.pdb beside each trajectory, if any)")
    p.add_argument("--ref-repeats", nargs="+", default=None, metavar="TRAJ",
                   help="independent repeats of REF (same system, other seeds): the reference noise and the "
                        "bands on the plots come from them instead of blocks of REF")
    p.add_argument("--labels", nargs="+", default=None, metavar="NAME", help="names of REF and each SURR in the report")
    p.add_argument("--ref-log", default=None, metavar="CSV", help="thermo log of REF (default: thermo.csv beside it)")
    p.add_argument("--surr-log", nargs="+", default=None, metavar="CSV", help="thermo logs of the SURR runs, in order")
    p.add_argument("--ref-info", default=None, metavar="JSON",
                   help="run metadata of REF (default: run_info.json beside it)")
    p.add_argument("--surr-info", nargs="+", default=None, metavar="JSON", help="run metadata of the SURR runs")
    p.add_argument("--dt-ps", type=positive_float, default=None,
                   help="frame interval (ps) for files whose frames store no time")
    p.add_argument("--start", type=int, default=0, help="skip this many frames at the start of every run")
    p.add_argument("--stride", type=positive_int, default=1, help="use every STRIDE-th frame")
    p.add_argument("--out", default="comparison", metavar="DIR", help="directory for the report, plots and JSON")
    p.add_argument("--force-model", nargs="+", default=None, metavar="[LABEL=]MODEL.pt",
                   help="EGNN model files whose forces are compared with REF's on REF's own frames (force parity); "
                        "the label defaults to the SURR run made with that model, else the file name")
    p.add_argument("--reference", default=None, metavar="NAME",
                   help="a reference calculator (xtb, gfn1, emt, ase:module:Class) evaluated on REF's frames: "
                        "REF's stored forces are checked against it (force parity, filed under NAME)")
    p.add_argument("--calculator-args", default=None, metavar="YAML",
                   help="keyword arguments of --reference as a YAML mapping, e.g. '{charge: 0}'")
    p.add_argument("--device", default="cpu", help="torch device for --force-model")
    p.add_argument("--no-progress", action="store_true", help="draw no progress bar")
    g = p.add_argument_group("analysis")
    g.add_argument("--rdf-r-max", type=positive_float, default=None,
                   help="largest RDF radius (Å); default half the smallest box spacing")
    g.add_argument("--rdf-bin-width", type=positive_float, default=0.05, help="RDF bin width (Å)")
    g.add_argument("--msd-fit", nargs=2, type=float, default=[0.1, 0.5], metavar=("START", "END"),
                   help="MSD lag window fitted for D, as fractions of the run length")
    g.add_argument("--vacf-window-ps", type=positive_float, default=1.0, help="time window of the VACF error (ps)")
    g.add_argument("--vacf-max-lag-ps", type=positive_float, default=None,
                   help="length of the VACF (ps); default half the run")
    t = p.add_argument_group("tolerances (a number, or 'off' to report without judging)")
    t.add_argument("--tolerances", default=None, metavar="FILE.yaml", help="tolerances as a YAML mapping name: value")
    for name in Tolerances.names():
        t.add_argument(f"--tol-{name}", default=None, metavar="X", help=f"tolerance of the {name} distance")
    t.add_argument("--no-noise", action="store_true",
                   help="judge against the tolerances alone: a distance within the reference's own noise fails "
                        "too when it exceeds its tolerance (the noise is still reported)")
    p.set_defaults(func=main, _parser=p, _section="compare")
    return p


def tolerances_from_args(args) -> Tolerances:
    """Defaults, then the --tolerances file, then --tol-NAME flags."""
    mapping = load_yaml_mapping(args.tolerances) if args.tolerances else {}
    tol = Tolerances.from_mapping(mapping, source=f"tolerances file {args.tolerances!r}")
    for name in Tolerances.names():
        value = getattr(args, f"tol_{name}")
        if value is not None:
            setattr(tol, name, parse_tolerance(value, f"--tol-{name}"))
    return tol


@holds_output_lock
def main(args) -> int:
    from ..compare import compare_trajectories
    from ..compare.run_data import load_run

    if not args.ref or not args.surr:
        raise InputError("give a reference trajectory REF and at least one trajectory SURR to compare with it")
    n = 1 + len(args.surr)
    if args.labels is not None and len(args.labels) != n:
        raise InputError(f"--labels needs {n} names (REF and each SURR), got {len(args.labels)}")
    for flag, values in (("--surr-log", args.surr_log), ("--surr-info", args.surr_info)):
        if values is not None and len(values) != n - 1:
            raise InputError(f"{flag} needs one file per SURR ({n - 1}), got {len(values)}")
    if args.start < 0:
        raise InputError(f"--start must be zero or more, got {args.start}")
    tolerances = tolerances_from_args(args)
    labels = args.labels or [None] * n
    logs = [args.ref_log] + (args.surr_log or [None] * (n - 1))
    infos = [args.ref_info] + (args.surr_info or [None] * (n - 1))
    runs = [load_run(path, name=label, top=args.top, log=log, info=info, dt_ps=args.dt_ps, start=args.start,
                     stride=args.stride, progress=not args.no_progress)
            for path, label, log, info in zip([args.ref, *args.surr], labels, logs, infos)]
    repeats = [load_run(path, top=args.top, dt_ps=args.dt_ps, start=args.start, stride=args.stride,
                        progress=not args.no_progress) for path in args.ref_repeats or []]
    providers = force_models(args.force_model or [], runs[1:], args.device)
    if args.reference:
        from ..reference import reference_provider

        providers[args.reference] = reference_provider(args.reference, args.calculator_args,
                                                        numbers=runs[0].numbers)[0]
    out = Path(args.out)
    write_resolved_config(args, out)
    result = compare_trajectories(runs[0], runs[1:], tolerances=tolerances, out_dir=out, force_providers=providers,
                                  rdf_r_max=args.rdf_r_max, rdf_bin_width=args.rdf_bin_width,
                                  msd_fit_fraction=tuple(args.msd_fit), vacf_window_ps=args.vacf_window_ps,
                                  vacf_max_lag_ps=args.vacf_max_lag_ps, progress=not args.no_progress,
                                  noise_passes=not args.no_noise, reference_repeats=repeats)
    print_summary(result, sys.stdout)
    return 0 if result.passed else 1


def force_models(specs: list[str], others, device: str) -> dict:
    """``{label: EGNNForceProvider}`` from ``[LABEL=]PATH`` specs; an unlabelled model takes the label of
    the compared run whose run_info.json names it, else its file name."""
    import os

    from .builders import check_device, model_kind

    providers = {}
    if specs:
        check_device(device)
    for spec in specs:
        label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        if not os.path.exists(path):
            raise InputError(f"--force-model {path!r} does not exist")
        kind = model_kind(path)
        if kind != "egnn":
            raise InputError(f"--force-model {path}: force parity needs an EGNN force model, got a {kind!r} model")
        if not label:
            made = [r.name for r in others if r.info.get("model") and os.path.exists(r.info["model"])
                    and os.path.samefile(r.info["model"], path)]
            label = made[0] if made else Path(path).stem
        from surrogate.egnn.provider import EGNNForceProvider

        providers[label] = EGNNForceProvider(path, device=device)
    return providers


def print_summary(result, stream) -> None:
    from ..compare.report import DIST_HEADER, distance_rows

    rows = [DIST_HEADER] + distance_rows(result)
    widths = [max(len(r[k]) for r in rows) for k in range(len(DIST_HEADER))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip(), file=stream)
    for name, value in result.speedups.items():
        if value is not None:
            print(f"speedup of {name} over {result.reference.name}: {value:.3g}x", file=stream)
    print(("PASS" if result.passed else "FAIL") + f": report {result.files.get('html')}", file=stream)
