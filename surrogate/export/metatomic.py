"""Export EGNN models (one, or a committee's members) as a metatomic ``AtomisticModel`` file.

The file is TorchScript with declared capabilities, loadable unchanged by metatomic-ase, i-PI
(``i-pi-driver-py -m metatomic``), LAMMPS (``pair_style metatomic``) and torch-sim. Forces and stress are
not exported: every engine takes them by autograd of the exported energy.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from systems.atomic_file import atomic_write
from systems.errors import InputError

from ..dtypes import resolve_dtype

#: Satorras, Hoogeboom & Welling (2021), the EGNN architecture
EGNN_REFERENCE = ("V. G. Satorras, E. Hoogeboom, M. Welling, E(n) Equivariant Graph Neural Networks, "
                  "ICML 2021, arXiv:2102.09844")


def _check_members(members) -> list:
    """The members as a list of EGNNEnergyModel; a clear error for anything else or an unexportable one."""
    from ..egnn.model import EGNNEnergyModel

    if isinstance(members, EGNNEnergyModel):
        members = [members]
    members = list(members)
    if not members:
        raise InputError("metatomic export: no model given")
    for k, m in enumerate(members):
        if not isinstance(m, EGNNEnergyModel):
            raise InputError(f"metatomic export: member {k} is a {type(m).__name__}, not an EGNN energy model")
        if getattr(m, "bond_edges", "none") != "none":
            # The bond flags come from a topology or the first structure seen; a metatomic System carries
            # neither, so the exported energy could not be the model's.
            raise InputError(f"metatomic export: member {k} has bond-typed edges (bond_edges="
                             f"{m.bond_edges!r}), which need a topology that metatomic engines do not pass")
    return members


def build_atomistic_model(members, dtype=None, name: str = "surrogate-md EGNN", description: str = "",
                          authors=(), device: str = "cpu"):
    """A metatomic ``AtomisticModel`` for one EGNN or a committee (a list of members).

    members : EGNNEnergyModel or list of them (a committee; its mean is ``energy``, with ``energy_ensemble``
    and ``energy_uncertainty`` added); dtype : "float32"/"float64" or None (the first member's).
    Atomic types: the elements every member knows. Interaction range: cutoff × layers (an L-layer EGNN
    passes messages L neighbor-list hops; metatomic asks for that to size ghost regions), while the
    neighbor list it requests has the cutoff itself.
    """
    import copy

    from ._import import import_metatomic

    mta = import_metatomic()
    AtomisticModel, ModelCapabilities, ModelMetadata, ModelOutput = (
        mta.AtomisticModel, mta.ModelCapabilities, mta.ModelMetadata, mta.ModelOutput)
    from .metatomic_module import EGNNMetatomicModule

    members = _check_members(members)
    target = members[0].dtype if dtype is None else resolve_dtype(dtype)
    # Copies: the caller's models keep their dtype, device and gradients.
    members = [copy.deepcopy(m).to(device="cpu", dtype=target).eval() for m in members]
    for m in members:
        for p in m.parameters():
            p.requires_grad_(False)
    types = sorted(set.intersection(*(set(m.species) for m in members)))
    if not types:
        raise InputError("metatomic export: the committee members share no element")
    cutoff = max(m.cutoff for m in members)
    interaction_range = max(m.cutoff * m.n_layers for m in members)

    outputs = {"energy": ModelOutput(unit="eV", sample_kind="atom",
                                     description="EGNN energy" + (" (committee mean)" if len(members) > 1 else ""))}
    if len(members) > 1:
        outputs["energy_ensemble"] = ModelOutput(unit="eV", sample_kind="system",
                                                 description=f"the energies of the {len(members)} committee members")
        outputs["energy_uncertainty"] = ModelOutput(unit="eV", sample_kind="system",
                                                    description="standard deviation of the members' energies "
                                                                "(ddof 0)")
    capabilities = ModelCapabilities(
        outputs=outputs,
        atomic_types=types,
        interaction_range=float(interaction_range),
        length_unit="angstrom",
        supported_devices=["cpu", "cuda"],
        dtype="float64" if target == torch.float64 else "float32",
    )
    arch = members[0]
    text = description or (
        f"E(n)-equivariant graph network energy model ({len(members)} member"
        f"{'s' if len(members) > 1 else ''}; cutoff {arch.cutoff:g} Å, {arch.n_layers} layers, "
        f"{arch.hidden} features{', ZBL repulsion' if arch.repulsion is not None else ''}), "
        "exported by surrogate-md; forces and stress by autograd of the energy")
    metadata = ModelMetadata(
        name=name,
        description=text,
        authors=list(authors),
        references={"architecture": [EGNN_REFERENCE], "implementation": ["surrogate-md (this package)"]},
    )
    module = EGNNMetatomicModule(members, types, cutoff).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is marked deprecated in torch >= 2.10
        model = AtomisticModel(module, metadata, capabilities)
    return model.to(device)


def export_metatomic(members, path, dtype=None, **kwargs) -> Path:
    """Write the metatomic model of ``members`` (see :func:`build_atomistic_model`) to ``path`` atomically."""
    model = build_atomistic_model(members, dtype=dtype, **kwargs)
    path = Path(os.fspath(path))

    def write(handle):
        # AtomisticModel.save wants a file name; save beside the target, then copy the bytes in.
        tmp = path.parent / f".{path.name}.save.tmp"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                model.save(str(tmp))
            handle.write(tmp.read_bytes())
        finally:
            if tmp.exists():
                tmp.unlink()

    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, write)
