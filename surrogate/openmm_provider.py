"""OpenMM as a force provider: a PDB plus force-field XML files, evaluated in an OpenMM ``Context``.

Units convert at this boundary only: positions and box Å → nm going in,
energy kJ/mol → eV and forces kJ/mol/nm → eV/Å coming out. The context is
never stepped; our integrators move the atoms. OpenMM is optional (the
``reference`` extra); constructing the provider without it raises
:class:`~systems.errors.InputError`.

Water is flexible by default (``rigid_water=False``, no constraints): our
integrators do not apply constraints, so use a timestep of about 0.5 fs.
"""

from __future__ import annotations

import os

import numpy as np
from ase import units as ase_units

from systems.errors import InputError
from systems.forces import ForceResult, check_finite, check_finite_positions
from systems.state import System
from systems.units import ANGSTROM_PER_NM, NM_PER_ANGSTROM

#: eV per kJ/mol.
EV_PER_KJ_MOL = ase_units.kJ / ase_units.mol
#: eV/Å per kJ/mol/nm.
EV_PER_A_PER_KJ_MOL_NM = EV_PER_KJ_MOL * NM_PER_ANGSTROM


def _openmm():
    try:
        import openmm
        from openmm import app, unit
    except ImportError:
        raise InputError("OpenMM is not installed; install the reference extra: "
                         "pip install 'surrogate-md[reference]'") from None
    return openmm, app, unit


class OpenMMForceProvider:
    """Energy (eV) and forces [n, 3] (eV/Å) of a System from an OpenMM force field.

    Parameters
    ----------
    pdb : path to a PDB file (atoms, residues, bonds, and the box if periodic).
    forcefield : list of force-field XML files, e.g. ``["amber14-all.xml", "amber14/tip3pfb.xml"]``
        (OpenMM's bundled names or paths).
    nonbonded : "auto" (PME with a box, NoCutoff without), "PME", "CutoffPeriodic",
        "CutoffNonPeriodic" or "NoCutoff".
    cutoff : nonbonded cutoff in Å (default 9 Å; must be under half the box).
    rigid_water : keep OpenMM's rigid water (needs constraints, which our
        integrators lack: leave False unless only evaluating energies).
    platform : OpenMM platform name ("CPU", "Reference", "CUDA", ...).
    threads : CPU threads (CPU platform only), default OpenMM's choice.

    ``topology`` is the ``mdtraj.Topology`` of the PDB (for trajectory writers
    and bond/angle analysis); :meth:`initial_system` gives the PDB's state.
    """

    def __init__(self, pdb, forcefield, *, nonbonded: str = "auto", cutoff: float = 9.0, rigid_water: bool = False,
                 platform: str = "CPU", threads: int | None = None):
        openmm, app, unit = _openmm()
        self.pdb_path = os.fspath(pdb)
        #: how errors name this provider
        self.name = f"OpenMM {self.pdb_path}"
        if not os.path.exists(self.pdb_path):
            raise InputError(f"PDB file {self.pdb_path!r} does not exist")
        files = [forcefield] if isinstance(forcefield, (str, os.PathLike)) else list(forcefield)
        if not files:
            raise InputError("OpenMM needs at least one force-field XML file (--forcefield)")
        try:
            pdb_file = app.PDBFile(self.pdb_path)
        except Exception as exc:  # noqa: BLE001 - OpenMM raises assorted types for bad files
            raise InputError(f"cannot read PDB file {self.pdb_path!r}: {exc}") from None
        try:
            ff = app.ForceField(*[os.fspath(f) for f in files])
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot load force field {files}: {exc}") from None
        box = pdb_file.topology.getPeriodicBoxVectors()
        self.periodic = box is not None
        methods = {"PME": app.PME, "CutoffPeriodic": app.CutoffPeriodic, "CutoffNonPeriodic": app.CutoffNonPeriodic,
                   "NoCutoff": app.NoCutoff}
        if nonbonded == "auto":
            method = app.PME if self.periodic else app.NoCutoff
        elif nonbonded in methods:
            method = methods[nonbonded]
        else:
            raise InputError(f"`nonbonded` must be 'auto' or one of {', '.join(methods)}, got {nonbonded!r}")
        try:
            omm_system = ff.createSystem(pdb_file.topology, nonbondedMethod=method,
                                         nonbondedCutoff=cutoff * NM_PER_ANGSTROM * unit.nanometer,
                                         constraints=None, rigidWater=rigid_water, removeCMMotion=False)
        except Exception as exc:  # noqa: BLE001 - e.g. residues the force field lacks
            raise InputError(f"OpenMM cannot build a system from {self.pdb_path!r} with {files}: {exc}") from None
        try:
            plat = openmm.Platform.getPlatformByName(platform)
        except Exception:  # noqa: BLE001
            names = [openmm.Platform.getPlatform(k).getName() for k in range(openmm.Platform.getNumPlatforms())]
            raise InputError(f"OpenMM platform {platform!r} is not available; available: {', '.join(names)}") from None
        props = {"Threads": str(int(threads))} if threads and platform == "CPU" else {}
        # The integrator is never stepped; a Context just needs one.
        self.context = openmm.Context(omm_system, openmm.VerletIntegrator(0.001), plat, props)
        self._unit = unit
        self._vec3 = openmm.Vec3
        self._omm_topology = pdb_file.topology
        self._pdb_positions_A = np.array(pdb_file.getPositions(asNumpy=True).value_in_unit(unit.nanometer)) \
            * ANGSTROM_PER_NM
        self._box_A = (np.array([v.value_in_unit(unit.nanometer) for v in box]) * ANGSTROM_PER_NM
                       if self.periodic else np.zeros((3, 3)))
        self.masses = np.array([omm_system.getParticleMass(k).value_in_unit(unit.dalton)
                                for k in range(omm_system.getNumParticles())])
        self.numbers = np.array([a.element.atomic_number if a.element is not None else 0
                                 for a in pdb_file.topology.atoms()], dtype=np.int64)
        self.n_calls = 0

    @property
    def topology(self):
        """The PDB's ``mdtraj.Topology`` (atoms, residues, bonds)."""
        import mdtraj

        return mdtraj.Topology.from_openmm(self._omm_topology)

    def initial_system(self) -> System:
        """The PDB's atoms, positions (Å), box (Å) and the force field's masses (amu), at rest."""
        return System(self.numbers, self.masses, self._pdb_positions_A, None, self._box_A,
                      np.full(3, self.periodic))

    def compute(self, system: System, stress: bool = False) -> ForceResult:
        """Energy (eV) and forces [n, 3] (eV/Å). OpenMM gives no stress: ``stress=True`` raises InputError.

        A non-finite energy or force raises :class:`~systems.forces.NonFiniteError`.
        """
        if stress:
            raise InputError("the OpenMM provider computes no stress; log without pressure")
        if system.n_atoms != len(self.numbers):
            raise InputError(f"OpenMM system from {self.pdb_path!r} has {len(self.numbers)} atoms, "
                             f"the state has {system.n_atoms}")
        check_finite_positions(system.positions, self.name)  # OpenMM's CPU platform would raise its own error
        nm = self._unit.nanometer
        if self.periodic:
            self.context.setPeriodicBoxVectors(*[self._vec3(*row) * nm for row in (system.cell * NM_PER_ANGSTROM)])
        self.context.setPositions(self._unit.Quantity(system.positions * NM_PER_ANGSTROM, nm))
        state = self.context.getState(getEnergy=True, getForces=True)
        kj_mol = self._unit.kilojoule_per_mole
        energy = state.getPotentialEnergy().value_in_unit(kj_mol) * EV_PER_KJ_MOL
        forces = np.asarray(state.getForces(asNumpy=True).value_in_unit(kj_mol / nm), dtype=np.float64)
        self.n_calls += 1
        return check_finite(ForceResult(float(energy), forces * EV_PER_A_PER_KJ_MOL_NM), self.name)
