"""surrogate.compare: physics of each measure, distances between runs, and the report."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from integrators import LangevinBAOAB, VelocityVerlet
from systems.catalogue import liquid_argon
from systems.errors import InputError
from systems.frame import Frame
from systems.potentials import LennardJones
from surrogate.compare import RunData, Tolerances, compare_trajectories, load_run
from surrogate.compare.distances import force_parity
from surrogate.compare.dynamics import diffusion, msd_per_lag, unwrap, vacf
from surrogate.compare.structure import rdf
from surrogate.compare.thermo import energy_drift

N_ATOMS = 108  # box 17.4 Å: half the box clears the 8.5 Å cutoff


def lj_argon_run(name: str, seed: int, temperature_K: float = 94.4, epsilon: float = 0.0103,
                 equilibrate: int = 400, production: int = 800, every: int = 2, n_atoms: int = N_ATOMS,
                 cutoff: float = 8.5, skin: float = 1.0) -> RunData:
    """Liquid argon: Langevin equilibration (10/ps), then NVE production; frames every ``every`` 5-fs steps.

    ``cutoff`` and ``skin`` in Å: half the box of ``n_atoms`` must clear cutoff + skin."""
    system = liquid_argon(n_atoms, temperature_K=temperature_K, seed=seed)
    potential = LennardJones(3.405, epsilon, cutoff, skin)
    thermostat = LangevinBAOAB(potential, timestep_fs=5.0, temperature_K=temperature_K, friction_per_fs=0.01,
                               seed=seed)
    thermostat.initialize(system)
    for _ in range(equilibrate):
        thermostat.step(system)
    system.time = 0.0
    nve = VelocityVerlet(potential, timestep_fs=5.0)
    nve.initialize(system)
    frames = []
    for step in range(production + 1):
        if step % every == 0:
            frames.append(Frame.from_system(system, nve.last_result, index=step))
        nve.step(system)
    return RunData.from_frames(frames, name)


@pytest.fixture(scope="module")
def runs():
    return {"reference": lj_argon_run("reference", seed=1), "independent": lj_argon_run("independent", seed=2),
            "hot": lj_argon_run("hot", seed=3, temperature_K=140.0),
            "strong": lj_argon_run("strong", seed=4, epsilon=2 * 0.0103)}


@pytest.fixture(scope="module")
def passing(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("compare_pass")
    return compare_trajectories(runs["reference"], runs["independent"], out_dir=out)


# ------------------------------------------------------------ run distances
def test_independent_classical_runs_pass_default_tolerances(passing):
    judged = {d.name: d for d in passing.distances["independent"] if d.passed is not None}
    assert {"rdf", "diffusion", "vacf", "temperature"} <= set(judged)
    assert passing.passed, passing.failures()


@pytest.mark.parametrize("wrong, must_fail", [("hot", {"temperature"}),  # 140 K instead of 94.4 K
                                               ("strong", {"rdf", "diffusion"})])  # ε doubled: nearly frozen
def test_deliberately_wrong_runs_fail(runs, wrong, must_fail):
    result = compare_trajectories(runs["reference"], runs[wrong], report=False)
    failed = {d.name for d in result.distances[wrong] if d.passed is False}
    assert not result.passed
    assert must_fail <= failed, result.failures()


def test_diffusion_of_liquid_argon_matches_green_kubo_and_experiment(passing):
    ref = passing.reference
    # Two routes to D from the same run (Einstein MSD fit and Green-Kubo VACF integral) must agree.
    assert ref.diffusion.D == pytest.approx(ref.vacf.green_kubo_D, rel=0.2)
    # Experiment near the triple point: about 2.4e-9 m²/s = 0.24 Å²/ps (LJ argon reproduces it within ~30 %).
    assert 0.15 < ref.diffusion.D < 0.35


def test_vacf_from_finite_differences_matches_stored_velocities(runs):
    ref = runs["reference"]
    stored = vacf(ref)
    no_velocities = RunData(ref.name, ref.numbers, ref.masses, ref.positions, ref.times_ps, ref.cells, ref.pbc)
    estimated = vacf(no_velocities)
    assert stored.source == "frames" and estimated.source == "finite differences"
    window = stored.vacf.x <= 1.0
    # Frames 10 fs apart resolve argon's VACF (decay ~0.3 ps); the estimate agrees to a few percent.
    assert np.sqrt(np.mean((stored.vacf.y[window] - estimated.vacf.y[window]) ** 2)) < 0.03


# ------------------------------------------------------------ single measures
def test_rdf_matches_direct_numpy_histogram():
    rng = np.random.default_rng(5)
    n_frames, length, bin_width, r_max = 4, 9.0, 0.25, 4.5
    numbers = np.array([18] * 12 + [10] * 8)
    positions = rng.uniform(0, length, size=(n_frames, len(numbers), 3))
    cells = np.repeat(np.eye(3)[None] * length, n_frames, axis=0)
    run = RunData("tiny", numbers, np.ones(len(numbers)), positions, np.arange(n_frames) * 0.01, cells,
                  np.ones(3, bool))
    edges = np.arange(0.0, r_max + 1e-9, bin_width)
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    for za, zb in ((18, 18), (10, 18)):
        ia, ib = np.flatnonzero(numbers == za), np.flatnonzero(numbers == zb)
        d = positions[:, ib][:, None, :, :] - positions[:, ia][:, :, None, :]  # [T, a, b, 3]
        d -= length * np.round(d / length)
        r = np.linalg.norm(d, axis=-1)
        if za == zb:
            iu = np.triu_indices(len(ia), k=1)
            r, n_pairs = r[:, iu[0], iu[1]], len(iu[0])
        else:
            n_pairs = len(ia) * len(ib)
        hist, _ = np.histogram(r.ravel(), bins=edges)
        expected = hist / (n_frames * n_pairs * shell / length**3)  # ideal-gas normalisation
        curve = rdf(run, za, zb, r_max, bin_width)
        np.testing.assert_allclose(curve.x, 0.5 * (edges[1:] + edges[:-1]), atol=1e-6)  # Å, not nm
        np.testing.assert_allclose(curve.y, expected, rtol=1e-6, atol=1e-9)


def test_msd_of_a_wrapped_random_walk_gives_its_diffusion_coefficient():
    rng = np.random.default_rng(0)
    n_frames, n_atoms, dt_ps, sigma = 2000, 500, 0.01, 0.05  # step std per axis (Å)
    walk = np.cumsum(rng.normal(scale=sigma, size=(n_frames, n_atoms, 3)), axis=0)
    length = 5.0
    cells = np.repeat(np.eye(3)[None] * length, n_frames, axis=0)
    wrapped = walk % length
    np.testing.assert_allclose(unwrap(wrapped, cells) - unwrap(wrapped, cells)[0], walk - walk[0], atol=1e-9)
    run = RunData("walk", np.full(n_atoms, 18), np.ones(n_atoms), wrapped, np.arange(n_frames) * dt_ps, cells,
                  np.ones(3, bool))
    result = diffusion(run, remove_com=False)
    # ⟨Δx²⟩ = 3σ² per frame, so D = σ² / (2 Δt).
    assert result.D == pytest.approx(sigma**2 / (2 * dt_ps), rel=0.05)
    lag = 10
    direct = np.mean(np.sum((walk[lag:] - walk[:-lag]) ** 2, axis=-1))
    assert msd_per_lag(walk)[lag] == pytest.approx(direct, rel=1e-9)  # FFT algorithm = direct average


def test_energy_drift_of_a_linear_ramp():
    t = np.linspace(0.0, 20.0, 101)  # ps
    energy = -5.0 + 2.0e-4 * t  # eV
    drift, deviation = energy_drift(t, energy, n_atoms=10)
    assert drift == pytest.approx(2.0e-4 * 1000 / 10)  # eV/atom/ns
    assert deviation == pytest.approx(2.0e-4 * 20 / 10)


def test_force_parity_on_the_same_frames(runs, tmp_path):
    ref = runs["reference"]
    scaled = RunData("scaled", ref.numbers, ref.masses, ref.positions, ref.times_ps, ref.cells, ref.pbc,
                     ref.energies_eV, ref.forces * 1.1, ref.velocities)  # LJ forces with ε × 1.1
    result = compare_trajectories(ref, scaled, report=False, tolerances={"force": 0.05})
    force = next(d for d in result.distances["scaled"] if d.name == "force")
    assert force.value == pytest.approx(0.1, rel=1e-9)
    assert force.passed is False
    parity = force_parity(ref.forces, ref.forces)
    assert parity["rmse_eV_per_A"] == 0.0 and parity["mae_eV_per_A"] == 0.0


def test_force_parity_of_a_provider_on_the_reference_frames(runs):
    ref = runs["reference"]
    same = LennardJones(3.405, 0.0103, 8.5, 1.0)
    stronger = LennardJones(3.405, 0.0103 * 1.1, 8.5, 1.0)  # forces exactly 1.1 × the reference's
    result = compare_trajectories(ref, runs["independent"], report=False,
                                  force_providers={"independent": same, "stronger": stronger})
    force = {name: next(d for d in ds if d.name == "force") for name, ds in result.distances.items()}
    assert force["independent"].value < 1e-10 and force["independent"].passed  # the run's own potential
    assert force["stronger"].value == pytest.approx(0.1, rel=1e-9) and force["stronger"].passed
    assert force["stronger"].detail["n_frames"] == 50


def test_molecule_bond_and_angle_distributions_from_a_pdb_topology(tmp_path):
    from tests.shared_data import DATA as data

    if not (data / "frame0.xtc").exists():
        pytest.skip("alanine dipeptide test data not present (see tests/shared_data.py)")
    runs = [load_run(data / "frame0.xtc", name=name, top=data / "native.pdb", stride=5) for name in "ab"]
    assert runs[0].n_frames == 101 and runs[0].frame_interval_ps > 0
    result = compare_trajectories(runs[0], runs[1], out_dir=tmp_path)
    assert "H-C" in result.bonds and "H-C-H" in result.angles
    by_name = {d.name: d for d in result.distances["b"]}
    assert by_name["bond"].value == 0.0 and by_name["angle"].value == 0.0 and by_name["rdf"].value == 0.0
    bond = result.bonds["H-C"][0]
    peak = bond.x[np.argmax(bond.y)]
    assert 1.0 < peak < 1.2  # C-H bonds are about 1.09 Å: the nm → Å conversion is right
    assert (tmp_path / "bonds.png").exists() and (tmp_path / "angles.png").exists()


def test_tolerances_reject_unknown_names_and_bad_values():
    with pytest.raises(InputError, match="unknown tolerance 'rfd'"):
        Tolerances.from_mapping({"rfd": 0.1})
    with pytest.raises(InputError, match="non-negative"):
        Tolerances.from_mapping({"rdf": -1})
    assert Tolerances.from_mapping({"drift": "off", "vacf": "0.2"}).to_json()["vacf"] == 0.2


# ------------------------------------------------------------------- report
def test_report_embeds_every_plot_and_json_holds_every_number(passing):
    files = passing.files
    html = files["html"].read_text()
    pngs = {name: path for name, path in files.items() if str(path).endswith(".png")}
    assert {"rdf", "msd", "vacf", "vdos", "thermo_distributions", "energy_timeseries"} <= set(pngs)
    embedded = re.findall(r'<figure id="([a-z_]+)"><img alt="[^"]*" src="data:image/png;base64,([^"]+)"', html)
    assert {name for name, _ in embedded} == set(pngs)
    for name, data in embedded:
        assert base64.b64decode(data) == pngs[name].read_bytes()  # self-contained: the PNG itself is inside
    markdown = files["markdown"].read_text()
    assert all(f"]({path.name})" in markdown for path in pngs.values())

    payload = json.loads(files["json"].read_text())
    assert payload["passed"] is True
    distances = payload["distances"]["independent"]
    for d in passing.distances["independent"]:
        assert distances[d.name]["value"] == d.value
        assert distances[d.name]["tolerance"] == d.tolerance
    ref = payload["runs"]["reference"]
    assert ref["diffusion"]["D_A2_per_ps"] == passing.reference.diffusion.D
    assert ref["thermo"]["stats"]["temperature_K"]["mean"] > 0
    assert len(payload["structure"]["rdf"]["Ar-Ar"]["reference"]["y"]) == len(passing.rdfs["Ar-Ar"][0].y)
    # Chance level from the reference's two halves: same order as the distance between independent runs.
    noise = payload["reference_noise"]
    independent_rdf = distances["rdf"]["value"]
    assert 0.3 * independent_rdf < noise["rdf"] < 3 * independent_rdf
    assert "Chance level" in html and "Chance level" in markdown


def test_runs_with_different_atoms_are_refused(runs):
    ref = runs["reference"]
    fewer = RunData("fewer", ref.numbers[:-1], ref.masses[:-1], ref.positions[:, :-1], ref.times_ps, ref.cells, ref.pbc)
    with pytest.raises(InputError, match="different elements|atoms"):
        compare_trajectories(ref, fewer, report=False)


def test_times_come_from_frames_in_ps(runs):
    ref = runs["reference"]
    assert ref.frame_interval_ps == pytest.approx(0.010)  # 2 steps of 5 fs
    assert ref.velocities is not None and ref.velocities.shape == ref.positions.shape
    # Å per ASE time unit in the frames → Å/ps here: thermal speeds of argon at 94 K are a few Å/ps.
    speed = np.sqrt(np.mean(np.sum(ref.velocities**2, axis=-1)))
    assert speed == pytest.approx(np.sqrt(3 * 94.4 * 1.380649e-23 / (39.948 * 1.66053907e-27)) * 1e-2, rel=0.15)
