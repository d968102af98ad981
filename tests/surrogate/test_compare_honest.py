"""An honest `surrogate compare`: drift judged, noise in the tolerances, error bars, equal lengths,
one temperature rule, bonds from covalent radii, no diffusion for one molecule, parity MAE/RMSE, progress."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from systems.errors import InputError
from systems.units import kB
from surrogate.compare import Distance, RunData, compare_trajectories, load_run
from surrogate.compare.connectivity import covalent_bonds, n_molecules
from surrogate.compare.report import parity_label
from surrogate.compare.thermo import temperature_rule, thermo_series
from surrogate.compare.uncertainty import mean_and_error, slope_and_error

from .test_compare import lj_argon_run

N_ATOMS = 32  # box 11.6 Å: half the box clears the 5.5 Å cutoff + 0.3 Å skin


def small_argon(name: str, seed: int, production: int = 600, temperature_K: float = 94.4) -> RunData:
    """32 LJ argon atoms: 200 Langevin steps, then NVE (5 fs), a frame every 2 steps (10 fs)."""
    return lj_argon_run(name, seed, temperature_K=temperature_K, equilibrate=200, production=production, every=2,
                        n_atoms=N_ATOMS, cutoff=5.5, skin=0.3)


def copy_run(run: RunData, name: str, **changes) -> RunData:
    fields = dict(name=name, numbers=run.numbers, masses=run.masses, positions=run.positions, times_ps=run.times_ps,
                  cells=run.cells, pbc=run.pbc, energies_eV=run.energies_eV, forces=run.forces,
                  velocities=run.velocities, info=dict(run.info))
    fields.update(changes)
    return RunData(**fields)


@pytest.fixture(scope="module")
def argon():
    return {"reference": small_argon("reference", 1), "independent": small_argon("independent", 2),
            "hot": small_argon("hot", 3, temperature_K=160.0)}


@pytest.fixture(scope="module")
def honest(argon):
    return compare_trajectories(argon["reference"], argon["independent"], report=False)


def distance(result, run: str, name: str) -> Distance:
    return next(d for d in result.distances[run] if d.name == name)


# ------------------------------------------------------------------ energy drift
def test_nve_drift_is_judged_by_default_and_a_heating_run_fails(argon, honest):
    drift = distance(honest, "independent", "drift")
    assert drift.tolerance == 0.1 and drift.passed is True  # velocity Verlet at 5 fs conserves energy
    assert drift.value < 0.02
    ref = argon["reference"]
    # The same frames with the potential energy ramping up by 0.5 meV/atom/ps: a run that heats.
    ramp = 0.5e-3 * N_ATOMS * (ref.times_ps - ref.times_ps[0])
    heating = copy_run(ref, "heating", energies_eV=ref.energies_eV + ramp)
    result = compare_trajectories(ref, heating, report=False)
    bad = distance(result, "heating", "drift")
    assert bad.value == pytest.approx(abs(0.5 + bad.detail["reference_drift_meV_per_atom_per_ps"]), abs=1e-6)
    assert bad.passed is False and not result.passed


def test_drift_is_skipped_with_a_note_for_a_thermostatted_run(argon):
    ref = argon["reference"]
    ramp = 0.5e-3 * N_ATOMS * (ref.times_ps - ref.times_ps[0])
    langevin = copy_run(ref, "langevin", energies_eV=ref.energies_eV + ramp, info={"integrator": "LangevinBAOAB"})
    result = compare_trajectories(ref, langevin, report=False)
    drift = distance(result, "langevin", "drift")
    assert drift.passed is None and "thermostatted" in drift.skipped and "Langevin" in drift.skipped


# ------------------------------------------------------------------ noise and error bars
def test_block_errors_of_a_mean_and_a_slope():
    rng = np.random.default_rng(0)
    values = rng.normal(10.0, 2.0, size=4000)  # independent samples: s.e. = σ/√n
    mean, error = mean_and_error(values)
    assert mean == pytest.approx(10.0, abs=0.15)
    assert error == pytest.approx(2.0 / np.sqrt(4000), rel=0.6)
    t = np.linspace(0, 10, 4000)
    slope, slope_error = slope_and_error(t, 0.3 * t + rng.normal(0, 0.5, size=4000))
    assert abs(slope - 0.3) < 4 * slope_error and slope_error < 0.05


def test_a_distance_within_the_reference_noise_passes():
    assert Distance("rdf", 0.08, 0.05, noise=0.1).passed is True
    assert Distance("rdf", 0.12, 0.05, noise=0.1).passed is False
    assert Distance("rdf", 0.04, 0.05, noise=0.01).limit == 0.05
    assert Distance("rdf", 0.08, None, noise=0.1).passed is None  # "off" stays off


def test_independent_runs_pass_within_the_reference_noise_and_a_hot_run_still_fails(argon, honest):
    # A tolerance of zero: only the reference's own noise (its two halves) admits the independent run.
    result = compare_trajectories(argon["reference"], argon["independent"], report=False,
                                  tolerances={"rdf": 0.0, "vacf": 0.0, "temperature": 0.0})
    for name in ("rdf", "vacf", "temperature"):
        d = distance(result, "independent", name)
        assert d.noise > 0 and d.passed, (name, d.value, d.noise)
    strict = compare_trajectories(argon["reference"], argon["independent"], report=False, noise_passes=False,
                                  tolerances={"rdf": 0.0, "vacf": 0.0, "temperature": 0.0})
    assert {"rdf", "vacf", "temperature"} <= {d.name for d in strict.distances["independent"] if d.passed is False}
    hot = compare_trajectories(argon["reference"], argon["hot"], report=False)
    t = distance(hot, "hot", "temperature")
    assert t.passed is False and t.value > 3 * t.noise


def test_reference_band_covers_an_independent_run(honest):
    ref_curve, other_curve = honest.rdfs["Ar-Ar"]
    se = honest.bands["rdf"]["Ar-Ar"]
    inside = ref_curve.y > 0.5  # the first shell and beyond
    assert np.all(np.isfinite(se[inside])) and np.all(se[inside] > 0)
    # Two independent runs differ by √2 × one run's error: |Δg| < 3 s.e. in most bins.
    z = np.abs(other_curve.y[inside] - ref_curve.y[inside]) / se[inside]
    assert np.mean(z < 3.0) > 0.75
    ref_stats = honest.reference.thermo_summary.stats["temperature_K"]
    assert 0 < ref_stats["error"] < ref_stats["std"]  # the error of the mean, smaller than the spread
    assert honest.reference.diffusion.error > 0


def test_repeats_of_the_reference_give_its_noise_and_bands(argon):
    ref, repeat = argon["reference"], small_argon("repeat", 5)
    result = compare_trajectories(ref, argon["independent"], report=False, reference_repeats=[repeat])
    assert "repeat" in result.noise["what"] and "repeat" in result.band_source
    direct = compare_trajectories(ref, repeat, report=False)  # the repeat judged as if it were a surrogate
    for name in ("rdf", "vacf", "diffusion", "temperature"):
        assert result.noise[name] == pytest.approx(distance(direct, "repeat", name).value, rel=1e-9)
    # Two runs: the band is |g_1 − g_2| / 2 bin by bin.
    g_ref = result.rdfs["Ar-Ar"][0].y
    g_rep = direct.rdfs["Ar-Ar"][1].y
    np.testing.assert_allclose(result.bands["rdf"]["Ar-Ar"], np.abs(g_ref - g_rep) / 2, atol=1e-12)


# ------------------------------------------------------------------ equal lengths
def test_runs_are_compared_over_equal_lengths(argon):
    ref = argon["reference"]
    short = argon["independent"].frames(slice(0, 151))  # 1.5 ps of the 3 ps
    result = compare_trajectories(ref, short, report=False)
    assert result.compared_ps == pytest.approx(1.5)
    assert result.reference.run.n_frames == 151 and result.reference.run.duration_ps == pytest.approx(1.5)
    assert any("first 1.5 ps" in note for note in result.reference.notes)
    assert "first 1.5 ps" in result.to_json()["equal_lengths"]


# ------------------------------------------------------------------ one temperature rule
def test_one_degrees_of_freedom_rule_for_every_file(argon):
    ref = argon["reference"]
    # Zero the centre-of-mass velocity of every frame: its centre of mass is now at rest.
    v = ref.velocities - (np.einsum("n,tni->ti", ref.masses, ref.velocities) / ref.masses.sum())[:, None, :]
    at_rest = copy_run(ref, "at-rest", velocities=v)
    assert temperature_rule([at_rest, copy_run(at_rest, "b")])[0] is True
    com_fixed, why = temperature_rule([at_rest, ref])  # ref's centre of mass drifts (Langevin equilibration)
    assert com_fixed is False and "reference" in why
    result = compare_trajectories(ref, at_rest, report=False)
    assert result.temperature_dof["degrees_of_freedom"] == 3 * N_ATOMS
    for m in result.runs:  # both temperatures are 2 E_kin / (3N k_B), not each file's own rule
        np.testing.assert_allclose(m.thermo.temperature_K, 2 * m.thermo.ekin_eV / (3 * N_ATOMS * kB))
    assert thermo_series(at_rest, True).temperature_K[0] == pytest.approx(
        thermo_series(at_rest, False).temperature_K[0] * 3 * N_ATOMS / (3 * N_ATOMS - 3))


# ------------------------------------------------------------------ molecules from extxyz
def _water_frames(path, seed: int, oh: float = 0.96, n_frames: int = 60):
    """A jittered water molecule in vacuum, written as extxyz without topology (frames 1 fs apart)."""
    rng = np.random.default_rng(seed)
    half = np.radians(104.5 / 2)
    base = np.array([[0, 0, 0], [oh * np.sin(half), oh * np.cos(half), 0], [-oh * np.sin(half), oh * np.cos(half), 0]])
    frames = []
    for k in range(n_frames):
        atoms = Atoms("OH2", positions=base + rng.normal(0, 0.02, size=(3, 3)) + 0.001 * k)
        frames.append(atoms)
    write(path, frames, format="extxyz")
    return path


def test_covalent_connectivity_finds_molecules_and_no_argon_bonds(argon):
    ref = argon["reference"]
    assert len(covalent_bonds(ref.numbers, ref.positions[0], ref.cells[0], ref.pbc)) == 0
    water = Atoms("OH2", positions=[[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]])
    bonds = covalent_bonds(water.numbers, water.positions, None, [False] * 3)
    assert bonds.tolist() == [[0, 1], [0, 2]] and n_molecules(3, bonds) == 1
    two = water + water.copy()
    two.positions[3:] += [0, 0, 2.9]  # a second molecule 2.9 Å away: a hydrogen bond, not a covalent one
    assert n_molecules(6, covalent_bonds(two.numbers, two.positions, None, [False] * 3)) == 2


def test_bonds_and_angles_of_an_extxyz_molecule_and_no_diffusion(tmp_path):
    ref = load_run(_water_frames(tmp_path / "ref.extxyz", 0), dt_ps=0.001)
    same = load_run(_water_frames(tmp_path / "same.extxyz", 1), dt_ps=0.001)
    stretched = load_run(_water_frames(tmp_path / "long.extxyz", 2, oh=1.06), dt_ps=0.001)
    result = compare_trajectories(ref, [same, stretched], names=["ref", "same", "stretched"], out_dir=tmp_path / "r")
    assert set(result.bonds) == {"H-O"} and set(result.angles) == {"H-O-H"}
    peak = result.bonds["H-O"][0].x[np.argmax(result.bonds["H-O"][0].y)]
    assert abs(peak - 0.96) < 0.05
    assert "covalent radii" in result.bond_source
    assert distance(result, "same", "bond").passed and distance(result, "same", "angle").passed
    assert distance(result, "stretched", "bond").passed is False  # O-H 0.1 Å too long
    diff = distance(result, "same", "diffusion")
    assert diff.passed is None and "single molecule" in diff.skipped
    assert result.reference.diffusion is None and any("diffusion skipped" in n for n in result.reference.notes)
    assert (tmp_path / "r" / "bonds.png").exists() and (tmp_path / "r" / "angles.png").exists()
    assert "covalent radii" in (tmp_path / "r" / "report.md").read_text()


def test_frames_without_time_name_the_real_option(tmp_path):
    path = _water_frames(tmp_path / "w.extxyz", 0, n_frames=3)
    with pytest.raises(InputError, match="--dt-ps") as err:
        load_run(path)
    assert "--ref-dt-ps" not in str(err.value)


# ------------------------------------------------------------------ parity MAE and RMSE
def test_parity_plot_and_json_carry_mae_and_rmse(argon, tmp_path):
    ref = argon["reference"].frames(slice(0, 40))
    offset = copy_run(ref, "offset", forces=ref.forces + 0.01)  # every component 0.01 eV/Å off
    compare_trajectories(ref, offset, out_dir=tmp_path)
    label = parity_label("offset", ref.forces, offset.forces)
    assert label == "offset: MAE 0.01 eV/Å, RMSE 0.01 eV/Å"
    payload = json.loads((tmp_path / "comparison.json").read_text())
    parity = payload["force_parity"]["offset"]
    assert parity["mae_eV_per_A"] == pytest.approx(0.01) and parity["rmse_eV_per_A"] == pytest.approx(0.01)
    assert (tmp_path / "force_parity.png").exists()


# ------------------------------------------------------------------ CLI: progress
def test_cli_shows_progress_unless_told_not_to(tmp_path, capsys):
    from surrogate.cli import main

    for name, seed in (("a", 0), ("b", 1)):
        _water_frames(tmp_path / f"{name}.extxyz", seed)
    argv = ["compare", str(tmp_path / "a.extxyz"), str(tmp_path / "b.extxyz"), "--dt-ps", "0.001"]
    assert main(argv + ["--out", str(tmp_path / "loud")]) in (0, 1)
    assert "compare" in capsys.readouterr().err  # the stage bar (tqdm) on stderr
    assert main(argv + ["--no-progress", "--out", str(tmp_path / "quiet")]) in (0, 1)
    err = capsys.readouterr().err
    assert "step/s" not in err and "%|" not in err
