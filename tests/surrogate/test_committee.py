"""EGNN committees: the mean and spread against each member evaluated alone, forces as −∇ of the mean
energy, the ASE calculator, the committee file, the thermo log and checkpoint, and `train egnn --committee`."""

from __future__ import annotations

import copy
import csv
import json

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError

from integrators import Simulation, ThermoLogReporter, VelocityVerlet
from integrators._common import result_from_dict, result_to_dict
from surrogate.calculator import SurrogateCalculator
from surrogate.egnn.committee import is_committee_file, load_committee, load_models, member_prefix, save_committee
from surrogate.egnn.model import EGNNEnergyModel
from surrogate.egnn.provider import EGNNForceProvider
from surrogate.egnn.train import model_header, save_egnn
from surrogate.model_file import ModelFileError, load_model_file, save_model_file
from systems.errors import InputError
from systems.state import System

CUTOFF = 4.0


def copper(rattle=0.08, seed=0):
    """8 atoms of fcc copper, periodic, rattled so that every force is non-zero."""
    atoms = bulk("Cu", "fcc", a=3.61).repeat(2)
    atoms.rattle(rattle, seed=seed)
    return atoms


def member(seed: int, species=(29,), cutoff=CUTOFF) -> EGNNEnergyModel:
    """An untrained float64 model whose weights come from ``seed`` (members differ like trained ones do)."""
    torch.manual_seed(seed)
    model = EGNNEnergyModel(list(species), cutoff, hidden=8, layers=2, dtype="float64")
    with torch.no_grad():  # larger output weights: the members' energies and forces differ clearly
        for p in model.parameters():
            p.mul_(3.0)
    model.trained_on_stress = True  # its stress is compared, not trusted: no warning
    return model


def evaluate(provider, atoms, stress=True):
    return provider.evaluate(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, stress=stress)


@pytest.fixture(scope="module")
def members():
    return [member(s) for s in range(3)]


def test_identical_members_give_exactly_zero_spread():
    one = member(0)
    atoms = copper()
    result = evaluate(EGNNForceProvider([one, copy.deepcopy(one), copy.deepcopy(one)], script=False), atoms)
    single = evaluate(EGNNForceProvider(one, script=False), atoms)
    assert result.uncertainty["energy_std"] == 0.0
    assert result.uncertainty["max_force_std"] == 0.0
    assert np.array_equal(result.uncertainty["forces_std"], np.zeros(len(atoms)))
    assert result.energy == pytest.approx(single.energy, rel=1e-14)
    np.testing.assert_allclose(result.forces, single.forces, rtol=1e-13, atol=1e-15)
    assert single.uncertainty is None  # one model is not a committee


def test_mean_and_spread_equal_the_members_evaluated_alone(members):
    atoms = copper(seed=1)
    result = evaluate(EGNNForceProvider(members, script=False), atoms)
    alone = [evaluate(EGNNForceProvider(m, script=False), atoms) for m in members]
    energies = np.array([r.energy for r in alone])
    forces = np.stack([r.forces for r in alone])
    assert energies.std() > 1e-3  # the test would prove nothing with members that agree
    assert result.energy == pytest.approx(energies.mean(), rel=1e-12)
    np.testing.assert_allclose(result.forces, forces.mean(axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.stress, np.mean([r.stress for r in alone], axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result.energies, np.mean([r.energies for r in alone], axis=0), rtol=1e-12, atol=1e-14)
    spread = result.uncertainty
    assert spread["energy_std"] == pytest.approx(np.std(energies, ddof=0), rel=1e-10)
    by_hand = np.linalg.norm(np.std(forces, axis=0, ddof=0), axis=1)  # [n] eV/Å
    assert spread["forces_std"].shape == (len(atoms),) and spread["forces_std"].dtype == np.float64
    np.testing.assert_allclose(spread["forces_std"], by_hand, rtol=1e-10)
    assert spread["max_force_std"] == pytest.approx(by_hand.max(), rel=1e-10)


def test_forces_are_minus_the_gradient_of_the_mean_energy(members):
    atoms = copper(seed=2)
    provider = EGNNForceProvider(members, script=False, skin=0.0)
    forces = evaluate(provider, atoms, stress=False).forces
    h = 1e-5
    for atom, axis in ((0, 0), (3, 1), (6, 2)):
        energies = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * h
            energies.append(evaluate(provider, moved, stress=False).energy)
        assert forces[atom, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), abs=1e-6)


def test_calculator_returns_the_mean_and_the_spread(members):
    atoms = copper(seed=3)
    calc = SurrogateCalculator(members)
    atoms.calc = calc
    expected = evaluate(EGNNForceProvider(members, script=False), atoms)
    assert atoms.get_potential_energy() == pytest.approx(expected.energy, rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), expected.forces, rtol=1e-10, atol=1e-12)
    assert calc.get_property("energy_std", atoms) == pytest.approx(expected.uncertainty["energy_std"], rel=1e-12)
    np.testing.assert_allclose(calc.get_property("forces_std", atoms), expected.uncertainty["forces_std"], rtol=1e-10)
    assert calc.results["max_force_std"] == pytest.approx(expected.uncertainty["max_force_std"], rel=1e-10)
    single = SurrogateCalculator(members[0])
    atoms.calc = single
    atoms.get_potential_energy()
    assert "energy_std" not in single.results
    with pytest.raises(PropertyNotImplementedError):
        single.get_property("forces_std", atoms)


def test_file_round_trip_and_kind(members, tmp_path):
    path = save_committee(members, tmp_path / "committee.pt", info={"note": "test"})
    single = save_egnn(members[0], tmp_path / "one.pt")
    assert is_committee_file(path) and not is_committee_file(single)
    loaded = load_committee(path)
    assert len(loaded) == 3
    for a, b in zip(members, loaded):
        for name, tensor in a.state_dict().items():
            assert torch.equal(tensor, b.state_dict()[name]), name
    atoms = copper(seed=4)
    from_file = evaluate(EGNNForceProvider(path, script=False), atoms)
    from_list = evaluate(EGNNForceProvider(members, script=False), atoms)
    assert from_file.energy == from_list.energy
    assert from_file.uncertainty["max_force_std"] == from_list.uncertainty["max_force_std"]
    models, is_committee = load_models(single)
    assert len(models) == 1 and not is_committee
    header, _ = load_model_file(path)
    assert header["members"] == 3 and header["std"].startswith("population") and header["info"] == {"note": "test"}


def test_corrupt_or_mismatched_members_are_refused(members, tmp_path):
    path = save_committee(members, tmp_path / "committee.pt")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "flipped.pt").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="flipped.pt"):
        load_committee(tmp_path / "flipped.pt")
    # the committee writer refuses members that cannot share one graph
    with pytest.raises(InputError, match="member 1 has cutoff"):
        save_committee([members[0], member(5, cutoff=3.5)], tmp_path / "bad.pt")
    # a file whose member 1 was written with another cutoff (bypassing the writer) is refused on load
    other = member(5, cutoff=3.5)
    state = {member_prefix(k) + n: t for k, m in enumerate((members[0], other)) for n, t in m.state_dict().items()}
    header = {"kind": "egnn-committee", "members": 2, "member_headers": [model_header(members[0]), model_header(other)]}
    save_model_file(tmp_path / "mixed.pt", state, header)
    with pytest.raises(ModelFileError, match="member 1 has cutoff"):
        load_committee(tmp_path / "mixed.pt")
    # member 1's weights do not fit its header (hidden width): named with the member
    wide = EGNNEnergyModel([29], CUTOFF, hidden=12, layers=2, dtype="float64")
    state = {member_prefix(k) + n: t for k, m in enumerate((members[0], wide)) for n, t in m.state_dict().items()}
    header["member_headers"] = [model_header(members[0]), model_header(members[1])]
    save_model_file(tmp_path / "shapes.pt", state, header)
    with pytest.raises(ModelFileError, match=r"member 1\).*hidden"):
        load_committee(tmp_path / "shapes.pt")
    # a tensor of no member
    state = {member_prefix(0) + n: t for n, t in members[0].state_dict().items()}
    state["member7.extra"] = torch.zeros(1, dtype=torch.float64)
    save_model_file(tmp_path / "stray.pt", state, {"kind": "egnn-committee", "members": 1,
                                                   "member_headers": [model_header(members[0])]})
    with pytest.raises(ModelFileError, match="member7.extra"):
        load_committee(tmp_path / "stray.pt")


def test_thermo_log_columns_and_checkpoint_carry_the_spread(members, tmp_path):
    atoms = copper(seed=5)
    provider = EGNNForceProvider(members, script=False)
    system = System.from_atoms(atoms)
    log = tmp_path / "thermo.csv"
    with Simulation(system, VelocityVerlet(provider, timestep_fs=0.5), [ThermoLogReporter(log, 2)]) as sim:
        sim.run(4)
        last = sim.integrator.last_result
    rows = list(csv.DictReader(log.open()))
    assert {"energy_std_eV", "max_force_std_eV_per_A"} <= set(rows[0])
    assert [int(r["step"]) for r in rows] == [0, 2, 4]
    assert float(rows[-1]["energy_std_eV"]) == pytest.approx(last.uncertainty["energy_std"], rel=1e-10)
    assert float(rows[-1]["max_force_std_eV_per_A"]) == pytest.approx(last.uncertainty["max_force_std"], rel=1e-10)
    expected = evaluate(provider, system.to_atoms(), stress=False).uncertainty
    assert float(rows[-1]["max_force_std_eV_per_A"]) == pytest.approx(expected["max_force_std"], rel=1e-9)
    back = result_from_dict(json.loads(json.dumps(_plain(result_to_dict(last)))))
    assert back.uncertainty["energy_std"] == last.uncertainty["energy_std"]
    assert np.array_equal(back.uncertainty["forces_std"], last.uncertainty["forces_std"])
    assert result_from_dict({**result_to_dict(last), "uncertainty": None}).uncertainty is None


def _plain(obj):
    """Arrays as lists, the way a JSON round trip would see them (floats survive exactly)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj.tolist() if isinstance(obj, np.ndarray) else obj


def test_cli_trains_a_committee_and_resume_keeps_finished_members(tmp_path, capsys):
    import ase.io
    from ase.calculators.emt import EMT

    from surrogate.cli import main

    frames = []
    for k in range(8):
        atoms = copper(rattle=0.1, seed=10 + k)
        atoms.calc = EMT()
        atoms.get_forces()
        atoms.get_stress()
        frames.append(atoms)
    data = tmp_path / "cu.extxyz"
    ase.io.write(data, frames)
    out = tmp_path / "c2"
    argv = ["train", "egnn", str(data), "--committee", "2", "--threads", "1", "--max-epochs", "2", "--hidden", "8",
            "--layers", "1", "--cutoff", str(CUTOFF), "--val-fraction", "0.25", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    path = out / "committee.pt"
    assert capsys.readouterr().out.strip() == str(path)
    models = load_committee(path)
    assert len(models) == 2
    assert not torch.equal(models[0].embedding.weight, models[1].embedding.weight)  # other seeds
    plans = [json.loads((out / f"member{k}" / "member.json").read_text()) for k in range(2)]
    assert plans[0]["val_indices"] == plans[1]["val_indices"] and len(plans[0]["val_indices"]) == 2
    assert plans[0]["train_indices"] != plans[1]["train_indices"]  # bootstrap resamples
    assert not set(plans[0]["train_indices"]) & set(plans[0]["val_indices"])
    # an interrupted committee: member 1 never finished; --resume keeps member 0 untouched
    (out / "member1" / "member.json").unlink()
    kept = (out / "member0" / "best.pt").read_bytes()
    assert main(argv + ["--resume"]) == 0
    err = capsys.readouterr().err
    assert "committee member 0: kept" in err and "committee member 1: trained" in err
    assert (out / "member0" / "best.pt").read_bytes() == kept
    result = evaluate(EGNNForceProvider(path, script=False), frames[0], stress=False)
    assert result.uncertainty["max_force_std"] > 0


def _committee_run(path, members, steps, resume=False):
    """8 copper atoms under a committee, thermo log every step, checkpoint every 2; returns the simulation."""
    from integrators import CheckpointReporter

    provider = EGNNForceProvider(members, script=False)
    integrator = VelocityVerlet(provider, timestep_fs=1.0)
    reporters = [ThermoLogReporter(path / "thermo.csv", 1, append=resume),
                 CheckpointReporter(path / "checkpoint.npz", 2)]
    if resume:
        sim = Simulation.from_checkpoint(path / "checkpoint.npz", integrator, reporters)
    else:
        sim = Simulation(System.from_atoms(copper(seed=6)), integrator, reporters)
    with sim:
        sim.run(steps - sim.step)
    return sim


def test_checkpoint_resume_of_a_committee_run_is_exact(members, tmp_path, capsys):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir(), killed.mkdir()
    _committee_run(whole, members, 6)
    before = _committee_run(killed, members, 5)  # as if killed after step 5: last checkpoint at step 4
    assert before.integrator.last_result.uncertainty is not None
    from integrators.checkpoint import load_checkpoint

    saved = load_checkpoint(killed / "checkpoint.npz")
    spread = saved.integrator_state["result"]["uncertainty"]  # the cached step-4 result keeps its spread
    assert saved.step == 4 and set(spread) == {"energy_std", "forces_std", "max_force_std"}
    assert spread["forces_std"].shape == (8,) and spread["max_force_std"] > 0
    _committee_run(killed, members, 6, resume=True)
    assert "kept 5 rows, dropped 1 written after step 4" in capsys.readouterr().err  # step 5's row goes
    assert (killed / "thermo.csv").read_bytes() == (whole / "thermo.csv").read_bytes()


def test_set_models_swaps_the_members_in_place(members):
    atoms = copper(seed=7)
    provider = EGNNForceProvider(members[:2], script=False)
    first = evaluate(provider, atoms, stress=False)
    provider.set_models(members)  # e.g. a committee fine-tuned during a run
    swapped = evaluate(provider, atoms, stress=False)
    fresh = evaluate(EGNNForceProvider(members, script=False), atoms, stress=False)
    assert swapped.energy == fresh.energy and swapped.energy != first.energy
    np.testing.assert_array_equal(swapped.uncertainty["forces_std"], fresh.uncertainty["forces_std"])
    with pytest.raises(InputError, match="cutoff"):
        provider.set_models([member(9, cutoff=3.0)])
