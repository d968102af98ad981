"""Units, in one place.

Inside the package every quantity is in ASE's units: length in Å, energy in eV,
mass in amu, time in ASE's internal unit Å·√(amu/eV) (so ``1 fs == units.fs``),
velocity in Å per internal time unit, temperature in K, stress in eV/Å³.

Conversions happen only at the edges (MDTraj: nm and ps) through the named
factors below. Reduced Lennard-Jones units map onto ASE's internal units exactly
when σ = 1 Å, ε = 1 eV and m = 1 amu; the internal time unit is then τ.
"""

from __future__ import annotations

from ase import units as _ase_units

#: One femtosecond in ASE's internal time unit.
fs: float = _ase_units.fs
#: One picosecond in ASE's internal time unit.
ps: float = 1000.0 * _ase_units.fs
#: One nanosecond in ASE's internal time unit.
ns: float = 1.0e6 * _ase_units.fs
#: Boltzmann's constant in eV/K.
kB: float = _ase_units.kB
#: eV/Å³ per GPa (divide a stress in eV/Å³ by this to get GPa).
GPa: float = _ase_units.GPa
#: Bar in eV/Å³.
bar: float = _ase_units.bar

#: One kJ/mol in eV (OpenMM and MDTraj energies).
EV_PER_KJ_MOL: float = _ase_units.kJ / _ase_units.mol
#: kJ/mol per eV.
KJ_MOL_PER_EV: float = 1.0 / EV_PER_KJ_MOL

#: Å per nm (MDTraj stores nm).
ANGSTROM_PER_NM: float = 10.0
#: nm per Å.
NM_PER_ANGSTROM: float = 0.1
#: ASE internal time units per ps (MDTraj stores ps).
TIME_PER_PS: float = ps

__all__ = ["fs", "ps", "ns", "kB", "GPa", "bar", "EV_PER_KJ_MOL", "KJ_MOL_PER_EV", "ANGSTROM_PER_NM", "NM_PER_ANGSTROM", "TIME_PER_PS"]
