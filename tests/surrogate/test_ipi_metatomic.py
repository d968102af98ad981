"""An exported model drives a real i-PI NVE run over i-PI's socket (i-pi-driver-py -m metatomic); i-PI's
potential energies on its own frames equal our calculator's, and its conserved energy stays put."""

from __future__ import annotations

import numpy as np
import pytest

from surrogate.calculator import SurrogateCalculator
from surrogate.export import export_metatomic
from surrogate.export.ipi_run import ipi_available, run_ipi_nve

from .test_metatomic_export import tiny_model, water_triclinic

pytestmark = [pytest.mark.skipif(not ipi_available(), reason="i-PI (ipi, i-pi, i-pi-driver-py) is not installed"),
              pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")]

STEPS = 20


def test_ipi_nve_with_exported_model(tmp_path):
    model = tiny_model(0, "float64")
    path = export_metatomic(model, tmp_path / "model-mta.pt")
    atoms = water_triclinic()
    run = run_ipi_nve(path, atoms, tmp_path / "ipi", steps=STEPS, timestep_fs=0.5, temperature_K=300.0,
                      seed=7, timeout_s=240)
    assert list(run.steps) == list(range(STEPS + 1))
    assert run.positions.shape == (STEPS + 1, len(atoms), 3)
    assert np.abs(run.positions[-1] - run.positions[0]).max() > 1e-3  # the atoms moved
    # The cell is lower-triangular in ASE's rows (i-PI's upper-triangular h), so i-PI keeps its orientation.
    np.testing.assert_allclose(run.cell, atoms.cell.array, atol=1e-8)
    calc = SurrogateCalculator(model)
    ours = []
    for positions in run.positions:
        frame = atoms.copy()
        frame.positions = positions
        frame.calc = calc
        ours.append(frame.get_potential_energy())
    per_atom = np.abs(np.asarray(ours) - run.potential) / len(atoms)
    # The goal is 1e-5 eV/atom; in float64, with i-PI printing 15 digits, what is left is i-PI's
    # eV <-> Hartree and Å <-> Bohr round trips (~1e-9 eV/atom here).
    assert per_atom.max() <= 1e-6, per_atom
    # NVE with forces that are the energy's gradient: the conserved energy moves far less than the potential.
    assert np.ptp(run.potential) > 1e-3
    assert np.ptp(run.conserved) < 0.05 * np.ptp(run.potential)
