"""Import metatensor / metatomic safely after torch_geometric.

torch_geometric (2.8, ``torch_geometric/hash_tensor.py``) replaces ``torch.index_select`` with a Python
wrapper when it is imported. metatensor-operations compiles TorchScript functions at import time that call
``torch.index_select(array, dim=axis, index=...)``; TorchScript then compiles the wrapper instead of the
builtin and fails ("Expected a value of type 'int' for argument 'dim' but instead found type 'str'").
Every module of this package that imports the EGNN has imported torch_geometric, so metatensor is imported
here with the builtin restored for the duration of the import (the compiled functions keep the builtin;
torch_geometric's wrapper is put back afterwards). Importing metatomic first, before torch_geometric, needs
none of this.
"""

from __future__ import annotations

import sys

import torch


def import_metatomic():
    """Import and return ``metatomic.torch`` (and metatensor.torch, metatomic_ase if installed)."""
    if "metatensor_operations" not in sys.modules:
        patched = torch.index_select
        hash_tensor = sys.modules.get("torch_geometric.hash_tensor")
        original = getattr(hash_tensor, "_old_index_select", None)
        if original is not None:
            torch.index_select = original
        try:
            import metatensor.torch  # noqa: F401  (compiles metatensor-operations)
        finally:
            torch.index_select = patched
    import metatomic.torch

    return metatomic.torch
