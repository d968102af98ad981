"""``--constraints h-bonds``, ``--fix-atoms`` and ``--fix-com`` of ``surrogate run`` / ``generate``.

The rigid bonds to hydrogen come from the PDB topology when the system has one
(``--system x.pdb``, ``--top x.pdb`` or OpenMM's ``--pdb``), else from covalent
radii (:func:`systems.constraint_bonds.hydrogen_bonds_from_radii`, tolerance
``--bond-tolerance``); their lengths are those of the starting frame.
"""

from __future__ import annotations

import argparse

from systems.errors import InputError

from .options import positive_float

#: Values of ``--constraints``.
CONSTRAINT_KINDS = ("h-bonds",)
#: Default of ``--bond-tolerance``: ``systems.constraint_bonds.COVALENT_TOLERANCE`` (not imported here, so that
#: building the parser compiles no Numba code).
DEFAULT_BOND_TOLERANCE = 1.2


def atom_list(text: str) -> list[int]:
    """``"0,3,5"`` → [0, 3, 5] (argparse type of ``--fix-atoms``)."""
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated atom indices such as 0,3,5, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one atom index")
    return values


def add_constraint_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("constraints (verlet, langevin, bussi)")
    g.add_argument("--constraints", choices=CONSTRAINT_KINDS, default=None,
                   help="h-bonds: hold every bond to hydrogen at its starting length (RATTLE), from the PDB topology "
                        "if there is one, else from covalent radii")
    g.add_argument("--fix-atoms", type=atom_list, default=None, metavar="I,J,...",
                   help="atoms (0-based) whose positions never change")
    g.add_argument("--fix-com", action="store_true",
                   help="remove the centre-of-mass momentum every step (also under Langevin noise)")
    g.add_argument("--bond-tolerance", type=positive_float, default=DEFAULT_BOND_TOLERANCE, metavar="FACTOR",
                   help="--constraints h-bonds without a topology: bonded when closer than FACTOR × the covalent "
                        "radii sum")


def _topology(args):
    """The MDTraj topology with bonds of a PDB given as --system, --top or --pdb (None without one)."""
    import os

    import mdtraj

    for path in (getattr(args, "system", None), getattr(args, "top", None), getattr(args, "pdb", None)):
        if path and str(path).lower().endswith(".pdb") and os.path.isfile(path):
            topology = mdtraj.load_topology(path)
            if topology.n_bonds > 0:
                return topology, path
    return None, None


def build_constraints(args, system):
    """The :class:`integrators.constraints.Constraints` the options ask for, or None."""
    kind = getattr(args, "constraints", None)
    fixed = getattr(args, "fix_atoms", None) or []
    fix_com = bool(getattr(args, "fix_com", False))
    if kind is None and not fixed and not fix_com:
        return None
    if args.integrator not in ("verlet", "langevin", "bussi"):
        raise InputError(f"--integrator {args.integrator} takes no constraints (--constraints, --fix-atoms, "
                         "--fix-com are for verlet, langevin and bussi)")
    for i in fixed:
        if not 0 <= i < system.n_atoms:
            raise InputError(f"--fix-atoms: atom index {i} is outside 0..{system.n_atoms - 1}")
    from integrators.constraints import Constraints
    from systems.constraint_bonds import hydrogen_bonds_from_radii, hydrogen_bonds_from_topology

    bonds = None
    if kind == "h-bonds":
        topology, path = _topology(args)
        if topology is not None:
            try:
                bonds = hydrogen_bonds_from_topology(topology, numbers=system.numbers)
            except InputError as err:
                raise InputError(f"--constraints h-bonds with the topology of {path}: {err}") from None
        else:
            try:
                bonds = hydrogen_bonds_from_radii(system, tolerance=args.bond_tolerance)
            except InputError as err:
                raise InputError(f"--constraints h-bonds: {err}") from None
    return Constraints.for_system(system, fixed_atoms=fixed, fix_com=fix_com, bonds=bonds)
