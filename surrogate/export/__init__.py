"""Export trained models to other engines' formats (metatomic: LAMMPS, i-PI, ASE, torch-sim)."""

from ._import import import_metatomic
from .metatomic import build_atomistic_model, export_metatomic

__all__ = ["build_atomistic_model", "export_metatomic", "import_metatomic"]
