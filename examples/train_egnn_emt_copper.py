"""From reference data to MD with a learned potential, end to end (EMT copper).

1. Make an extxyz training file: Langevin MD of a 32-atom FCC copper cell with
   ASE's EMT at 300 K and 900 K, frames with energies and forces.
2. Train an EGNN with ONE call (``train_egnn``; the CLI equivalent is
   ``surrogate train egnn``).
3. Run NVE MD with the trained model through ASE's own ``VelocityVerlet`` and
   ``SurrogateCalculator``, and through this package's driver
   (``integrators.Simulation`` + ``EGNNForceProvider``), and print the energy drift
   and the force error against EMT along the way.

Run: ``python examples/train_egnn_emt_copper.py [--out demo_output/egnn_cu] [--epochs 60]``
(a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.verlet import VelocityVerlet as AseVelocityVerlet

from integrators import Simulation, ThermoLogReporter, VelocityVerlet
from surrogate.calculator import SurrogateCalculator
from surrogate.egnn.data import generate_frames
from surrogate.egnn.provider import EGNNForceProvider
from surrogate.egnn.train import train_egnn
from systems.forces import ForceResult
from systems.state import System
from systems.trajectory_writer import TrajectoryWriter
from systems.velocities import maxwell_boltzmann


def make_training_file(path: Path) -> Path:
    """Step 1: EMT copper frames (positions Å, energy eV, forces eV/Å) written as extxyz."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    frames = generate_frames(atoms, EMT(), temperatures_K=[300.0, 900.0], frames_per_temperature=40,
                             interval_steps=10, equilibration_steps=100, timestep_fs=2.0, seed=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with TrajectoryWriter(path) as writer:
        for frame in frames:
            writer.write(frame.to_system(), ForceResult(frame.energy, frame.forces))
    print(f"wrote {len(frames)} EMT frames to {path}")
    return path


def md_with_ase(model_path: Path, steps: int = 200) -> None:
    """Step 3a: ASE's VelocityVerlet with the SurrogateCalculator (NVE, 2 fs)."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=1)
    atoms.set_velocities(maxwell_boltzmann(atoms.get_masses(), 600.0, np.random.default_rng(1)))
    atoms.calc = SurrogateCalculator(model_path)
    dyn = AseVelocityVerlet(atoms, timestep=2.0 * units.fs)
    totals, force_errors = [], []

    def observe():
        totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy())
        reference = atoms.copy()
        reference.calc = EMT()
        force_errors.append(np.abs(reference.get_forces() - atoms.get_forces()).mean())

    dyn.attach(observe, interval=10)
    dyn.run(steps)
    print(f"ASE VelocityVerlet, {steps} steps: total-energy drift {1e3 * (totals[-1] - totals[0]) / len(atoms):+.3f} "
          f"meV/atom, force MAE vs EMT along the run {1e3 * np.mean(force_errors):.1f} meV/Å, "
          f"T = {atoms.get_temperature():.0f} K")


def md_with_driver(model_path: Path, out: Path, steps: int = 200) -> None:
    """Step 3b: this package's driver with the EGNN force provider (NVE, 2 fs), thermo log as CSV."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=1)
    system = System.from_atoms(atoms)
    system.velocities = maxwell_boltzmann(system.masses, 600.0, np.random.default_rng(1))
    provider = EGNNForceProvider(model_path, skin=1.0)
    log = out / "driver_thermo.csv"
    with Simulation(system, VelocityVerlet(provider, timestep_fs=2.0), [ThermoLogReporter(log, interval=10)]) as sim:
        start = provider.compute(system).energy + system.kinetic_energy()
        sim.run(steps)
        end = provider.compute(system).energy + system.kinetic_energy()
    print(f"driver VelocityVerlet, {steps} steps: total-energy drift {1e3 * (end - start) / system.n_atoms:+.3f} "
          f"meV/atom, T = {system.temperature():.0f} K, neighbor-list builds {provider.neighbor_list.n_builds}; "
          f"log in {log}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output/egnn_cu")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    out = Path(args.out)

    data = make_training_file(out / "cu_emt.extxyz")
    # Step 2: one call from an extxyz file to a model file.
    model_path = train_egnn(data, out / "train", cutoff=4.5, hidden=32, layers=3, max_epochs=args.epochs,
                            batch_size=4, lr=3e-3)
    print(f"best model: {model_path} (metrics in {out / 'train' / 'metrics.csv'})")
    md_with_ase(model_path)
    md_with_driver(model_path, out)


if __name__ == "__main__":
    main()
