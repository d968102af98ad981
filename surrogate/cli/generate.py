"""``surrogate generate``: a classical reference trajectory from any force provider."""

from __future__ import annotations

import argparse

from .options import (HelpFormatter, add_config_option, add_dynamics_options, add_output_options, add_provider_options,
                      add_runaway_options, add_size_options, add_system_options)
from .dask_options import add_dask_options

DESCRIPTION = """\
Generate a reference trajectory with a classical force provider: our Numba
Lennard-Jones potentials, a named reference (--reference xtb: GFN2-xTB through
tblite; gfn1, emt, ase:module:Class), any ASE calculator, or OpenMM from a PDB
and force-field XML files. The trajectory keeps positions, velocities, energies
and forces (extxyz), so it can train an EGNN (surrogate train egnn) and serve
as the reference of surrogate compare.
"""

EPILOG = """\
examples:
  surrogate generate --out ref                                   # 256 liquid-argon atoms, 10 ps
  surrogate generate --system argon-fcc --repeat 4 --integrator verlet --time-ps 5 --out fcc
  surrogate generate --system bulk:Cu --ase-calculator emt --temperature-K 600 --time-ps 2 --out cu
  surrogate generate --system aspirin.xyz --reference xtb --temperature-K 500 --time-ps 1 --out aspirin-xtb
      # GFN2-xTB: ms per call for a 21-atom molecule, ≈ 3 s for 24 periodic water atoms (one thread)
  surrogate generate --replicas 4 --seed 10 --out reps          # seeds 10..13 into reps/replica_000..003 (Dask)
  surrogate generate --pdb water.pdb --forcefield amber14/tip3pfb.xml --timestep-fs 0.5 --out water
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("generate", help="classical reference trajectory (Numba potentials, ASE, OpenMM)",
                              description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    add_config_option(p)
    add_system_options(p)
    add_provider_options(p, models=False)
    add_dynamics_options(p, default_equilibrate_ps=5.0)
    add_output_options(p, "reference")
    add_size_options(p)
    add_runaway_options(p)
    add_dask_options(p, replicas=True)
    p.set_defaults(func=main, _parser=p, _section="generate")
    return p


def main(args) -> int:
    from ..replica_jobs import in_replica, run_replicas

    if args.replicas is not None and not in_replica():  # N seeds of this command, each a Dask task running it once
        run_replicas(args._argv, args.replicas, args.seed, args.out, scheduler=args.scheduler, n_workers=args.workers,
                     threads=getattr(args, "threads", None))
        return 0
    from .builders import (Setup, build_integrator, build_provider, build_system, check_resume, check_simulation_size,
                           check_size_before_build, default_timestep_fs)
    from .simulate import run_simulation

    check_size_before_build(args)
    system, topology = build_system(args)
    provider, name, stress = build_provider(args, system, allow_model=False)
    if topology is None and getattr(provider, "topology", None) is not None:
        topology = provider.topology
    setup = Setup(system, topology, provider, name, stress)
    timestep_fs = args.timestep_fs or default_timestep_fs(system)
    check_simulation_size(args, system, provider, timestep_fs, args.integrator == "mc")
    integrator = build_integrator(args, provider, system, timestep_fs)
    check_resume(args, system, integrator, provider)
    run_simulation(args, setup, integrator, description={"kind": "reference"})
    return 0
