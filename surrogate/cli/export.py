"""``surrogate export``: write a trained EGNN (or a committee of them) for another engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from systems.errors import InputError

from ..config import write_resolved_config
from .options import HelpFormatter, add_config_option

FORMATS = ("metatomic",)

DESCRIPTION = """\
Export EGNN model files to a metatomic model (TorchScript AtomisticModel, https://docs.metatensor.org/metatomic/)
that LAMMPS (pair_style metatomic), i-PI (i-pi-driver-py -m metatomic), ASE (metatomic_ase.MetatomicCalculator)
and torch-sim load unchanged. It declares the elements, the cutoff neighbor list, Å and eV, and the output
"energy" (per structure or per atom); engines take forces and stress by autograd of the energy.

A committee file (surrogate train egnn --committee K), or several MODEL files, make a committee: "energy" is
the mean of the members, with "energy_ensemble" (every member's energy) and "energy_uncertainty" (their
population standard deviation, as the committee's own calculator reports) beside it.

The resolved options are written beside OUT as <OUT stem>.config.yaml.
"""

EPILOG = """\
examples:
  surrogate export egnn-model/best.pt --format metatomic -o model-mta.pt
  surrogate export committee-model/best.pt -o committee-mta.pt          # a committee file
  surrogate export seed0/best.pt seed1/best.pt seed2/best.pt -o committee-mta.pt --dtype float64
  i-pi input.xml & i-pi-driver-py -u -a mta -m metatomic -o template=init.xyz,model=model-mta.pt
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("export", help="export EGNN models for LAMMPS, i-PI, ASE, torch-sim (metatomic)",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_config_option(p)
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="EGNN model or committee file(s) (best.pt); several files: one committee of all their members")
    p.add_argument("--format", choices=FORMATS, default="metatomic", help="output format")
    p.add_argument("-o", "--out", default="model-mta.pt", metavar="FILE", help="exported model file")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="dtype of the exported model (default: the model file's)")
    p.add_argument("--name", default="surrogate-md EGNN", help="model name in the metadata")
    p.add_argument("--description", default="", help="description in the metadata (default: the architecture)")
    p.add_argument("--author", action="append", default=None, metavar="NAME",
                   help="an author for the metadata (repeat for several)")
    p.set_defaults(func=main, _parser=p, _section="export")
    return p


def main(args) -> int:
    from ..egnn.committee import load_models
    from ..export import export_metatomic

    if not args.models:
        raise InputError("give at least one EGNN model file to export")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"-o/--out {out} is a folder; give the file name of the exported model")
    members = []
    for path in args.models:  # an EGNN file gives one member, a committee file all of its own
        models, _ = load_models(path, dtype=args.dtype)  # ModelFileError names the file
        for model in models:
            if model.bond_edges != "none":
                raise InputError(f"model file {path}: bond-typed edges (bond_edges={model.bond_edges!r}) need a "
                                 "topology that metatomic engines do not pass; it cannot be exported")
        members.extend(models)
    export_metatomic(members, out, dtype=args.dtype, name=args.name, description=args.description,
                     authors=args.author or ())
    write_resolved_config(args, out.parent if str(out.parent) else ".", name=f"{out.stem}.config.yaml")
    kind = f"committee of {len(members)}" if len(members) > 1 else "model"
    print(f"wrote {out} (metatomic {kind}; {', '.join(str(z) for z in sorted(members[0].species))}; "
          f"cutoff {members[0].cutoff:g} Å)")
    return 0
