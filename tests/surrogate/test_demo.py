"""``surrogate demo``: the cost table, the operator started from stored reference frames, and both pipelines
(water with GFN2-xTB, argon with Lennard-Jones) end to end in their quick versions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from surrogate.cli import main
from surrogate.demo.cost_table import CostInputs, break_even_ps, build_cost_table, format_cost_table, write_cost_table
from systems import units
from systems.trajectory_reader import read_frames


# ---------------------------------------------------------------- cost table
def test_break_even_is_training_over_the_saving_per_ps_and_never_when_slower():
    assert break_even_ps(100.0, 60.0, 10.0) == pytest.approx(2.0)  # 100 s / (60 − 10) s per ps
    assert break_even_ps(100.0, 60.0, 60.0) is None
    assert break_even_ps(100.0, 60.0, 90.0) is None


def _inputs(**change):
    values = dict(xtb_s_per_ps=6000.0, egnn_s_per_ps=40.0, lstm_xtb_s_per_ps=310.0, lstm_egnn_s_per_ps=4.0,
                  egnn_train_s=150.0, egnn_md_s=160.0, lstm_train_s=90.0, reference_s=3600.0, reference_ps=0.5)
    values.update(change)
    return CostInputs(**values)


def test_cost_table_rows_speedups_training_and_verdict(tmp_path):
    table = build_cost_table(_inputs(), tolerances_pass=True)
    rows = {r["method"]: r for r in table["rows"]}
    assert rows["xTB Verlet"]["speedup_over_xtb"] == 1.0
    assert rows["EGNN MD"]["speedup_over_xtb"] == pytest.approx(150.0)
    # the operators' training includes what made their data: EGNN training + EGNN MD + their own training
    assert rows["LSTM on xTB forces"]["training_s"] == pytest.approx(400.0)
    assert rows["LSTM on EGNN forces"]["break_even_ps"] == pytest.approx(400.0 / (6000.0 - 4.0))
    assert rows["EGNN MD"]["break_even_with_reference_data_ps"] == pytest.approx((150.0 + 3600.0) / 5960.0)
    assert table["every_surrogate_faster"] and table["demo_target_met"]
    json_path, md_path = write_cost_table(table, tmp_path)
    assert json.loads(json_path.read_text())["rows"][2]["method"] == "LSTM on xTB forces"
    assert "| LSTM on EGNN forces | 4 | 1.5e+03× |" in md_path.read_text()


def test_a_surrogate_slower_than_xtb_or_a_failed_tolerance_fails_the_demo_target():
    slow = build_cost_table(_inputs(lstm_xtb_s_per_ps=7000.0), tolerances_pass=True)
    assert not slow["every_surrogate_faster"] and not slow["demo_target_met"]
    assert "| LSTM on xTB forces | 7e+03 | 0.857× | 400 | never |" in format_cost_table(slow)
    assert not build_cost_table(_inputs(), tolerances_pass=False)["demo_target_met"]
    stopped = build_cost_table(_inputs(stopped={"EGNN MD": "stopped after 0.1 ps: runaway"}), tolerances_pass=True)
    assert not stopped["every_run_completed"] and not stopped["demo_target_met"]
    assert "| EGNN MD (stopped early) |" in format_cost_table(stopped)
    unknown = build_cost_table(_inputs(reference_s=None), tolerances_pass=True)
    assert unknown["rows"][1]["break_even_with_reference_data_ps"] is None
    assert "(its cost is not recorded)" in format_cost_table(unknown)


# ---------------------------------------------------------------- the operator on a stored window
class CountingProvider:
    """A real force provider that counts its evaluations."""

    def __init__(self, provider):
        self.provider, self.calls = provider, 0

    def compute(self, system, stress=False):
        self.calls += 1
        return self.provider.compute(system, stress=stress)


@pytest.fixture(scope="module")
def argon_operator(tmp_path_factory):
    """A short LJ argon reference (frames every 10 fs with forces) and a force-input operator of Δ_R = 20 fs, W = 3."""
    root = tmp_path_factory.mktemp("demo_operator")
    assert main(["generate", "--n-atoms", "108", "--integrator", "verlet", "--equilibrate-ps", "0.3", "--time-ps",
                 "0.4", "--seed", "3", "--no-progress", "--out", str(root / "ref")]) == 0
    assert main(["train", "lstm", str(root / "ref" / "trajectory.extxyz"), "--stride-fs", "20", "--force-input",
                 "--augment-copies", "0", "--window", "3", "--hidden", "8", "--layers", "1", "--max-epochs", "1",
                 "--seed", "0", "--no-progress", "--out", str(root / "model")]) == 0
    return root / "ref" / "trajectory.extxyz", root / "model" / "best.pt"


def _lj_provider():
    from systems.potentials import LennardJones

    return CountingProvider(LennardJones.argon(cutoff=8.5))


def test_operator_from_a_stored_window_costs_one_force_call_per_stride(argon_operator, tmp_path):
    from surrogate.demo.operator_run import run_operator

    ref, model = argon_operator
    provider = _lj_provider()
    info = run_operator(model, provider, "LJ", ref, tmp_path / "stored", n_strides=4, verlet_timestep_fs=5.0,
                        window_from_reference=True, start_frame=1)
    # one evaluation of the start state before anything is written, then one per stride: no warm-up
    assert provider.calls == 1 + 4
    assert info["simulated_ps"] == pytest.approx(4 * 0.020) and info["wall_time_s"] > 0
    frames = list(read_frames(tmp_path / "stored" / "trajectory.extxyz"))
    reference = list(read_frames(ref))
    start = reference[1 + 2 * 2]  # the window: frames 1, 3, 5 (Δ_R = 2 frames); the run starts at its last
    assert len(frames) == 5
    np.testing.assert_allclose(frames[0].positions, start.positions, atol=1e-6)
    np.testing.assert_allclose(frames[0].velocities, start.velocities, atol=1e-6)
    assert frames[1].time - frames[0].time == pytest.approx(20.0 * units.fs)  # one stride per frame
    assert not np.allclose(frames[1].positions, start.positions)  # the operator moved the atoms


def test_operator_with_a_warm_up_pays_the_verlet_steps_of_its_first_window(argon_operator, tmp_path):
    from surrogate.demo.operator_run import run_operator

    ref, model = argon_operator
    provider = _lj_provider()
    run_operator(model, provider, "LJ", ref, tmp_path / "warm", n_strides=4, verlet_timestep_fs=5.0,
                 window_from_reference=False)
    # start-state check, warm-up start, (W − 1) strides × 4 Verlet steps, then one per stride
    assert provider.calls == 1 + 1 + 2 * 4 + 4


def test_stored_window_refuses_a_trajectory_too_short_for_it(argon_operator, tmp_path):
    from surrogate.demo.operator_run import reference_window
    from systems.errors import InputError

    ref, model = argon_operator
    with pytest.raises(InputError, match="needs frame"):
        reference_window(ref, model, start_frame=len(list(read_frames(ref))) - 2)


def test_cli_runs_the_operator_on_egnn_forces_with_force_model(argon_operator, tmp_path):
    """`surrogate run --integrator lstm --force-model egnn.pt` takes the operator's forces from the EGNN: its
    trajectory is the one run_operator writes with that EGNN (same seed, same warm-up)."""
    from surrogate.demo.operator_run import run_operator
    from surrogate.egnn.provider import EGNNForceProvider

    ref, model = argon_operator
    assert main(["train", "egnn", str(ref), "--stride", "4", "--max-epochs", "1", "--cutoff", "6", "--hidden", "4",
                 "--layers", "1", "--no-progress", "--seed", "0", "--out", str(tmp_path / "egnn")]) == 0
    egnn = tmp_path / "egnn" / "best.pt"
    assert main(["run", "--system", str(ref), "--frame", "0", "--integrator", "lstm", "--model", str(model),
                 "--force-model", str(egnn), "--timestep-fs", "5", "--steps", "3", "--traj-interval", "1",
                 "--seed", "0", "--no-progress", "--out", str(tmp_path / "cli")]) == 0
    info = json.loads((tmp_path / "cli" / "run_info.json").read_text())
    assert "EGNN" in info["force_provider"]
    run_operator(model, EGNNForceProvider(egnn), "EGNN", ref, tmp_path / "py", n_strides=3, verlet_timestep_fs=5.0,
                 window_from_reference=False, seed=0)
    cli = list(read_frames(tmp_path / "cli" / "trajectory.extxyz"))
    py = list(read_frames(tmp_path / "py" / "trajectory.extxyz"))
    assert len(cli) == len(py) == 4
    np.testing.assert_allclose(cli[-1].positions, py[-1].positions, atol=1e-5)
    assert not np.allclose(cli[-1].positions, cli[0].positions)
    assert main(["run", "--system", str(ref), "--integrator", "verlet", "--force-model", str(egnn), "--steps", "1",
                 "--no-progress", "--out", str(tmp_path / "bad")]) != 0  # --force-model is for --integrator lstm


def test_snapshot_keeps_complete_frames_and_drops_each_replica_transient(tmp_path):
    """surrogate/data/xtb_water/snapshot.py: replica 0 → trajectory.extxyz (complete frames only: a half-written
    last frame is dropped), every replica minus its first --skip-fs fs → training.extxyz."""
    import importlib.util

    from surrogate.demo.water import shipped_reference

    spec = importlib.util.spec_from_file_location("snapshot", shipped_reference() / "snapshot.py")
    snapshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(snapshot)
    frames = snapshot.complete_frames(shipped_reference() / "trajectory.extxyz")[:12]  # 2 fs apart
    runs = tmp_path / "runs"
    for k, name in enumerate(("gfn2", "gfn2-r1")):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.yaml").write_text("traj-interval: 4\ntimestep-fs: 0.5\nseed: %d\n" % k)
        (runs / name / "thermo.csv").write_text("step,x\n" + "".join(f"{4 * i},0\n" for i in range(12)))
        half = frames[10][: len(frames[10]) // 2]  # a frame being written
        (runs / name / "trajectory.extxyz").write_text("".join(frames[:10]) + half)
    assert snapshot.main([str(runs), "--skip-fs", "4", "--out", str(tmp_path)]) == 0
    assert len(list(read_frames(tmp_path / "trajectory.extxyz"))) == 10
    assert len(list(read_frames(tmp_path / "training.extxyz"))) == 2 * 8  # frames at 0 and 2 fs dropped
    assert len((tmp_path / "thermo.csv").read_text().splitlines()) == 1 + 10
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["n_steps"] == 36 and info["training_set"]["frames"] == 16


# ---------------------------------------------------------------- end to end
@pytest.mark.slow
def test_water_demo_runs_end_to_end_in_quick_mode(tmp_path, capsys):
    from surrogate.cli.demo import run_demo

    html = run_demo(tmp_path / "demo", quick=True)
    capsys.readouterr()
    out = tmp_path / "demo"
    payload = json.loads((html.parent / "comparison.json").read_text())
    assert set(payload["runs"]) == {"xTB", "egnn", "lstm-egnn"}
    assert payload["distances"]["egnn"]["force"]["detail"]["n_frames"] > 0
    table = json.loads((out / "cost_table.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert set(rows) == {"xTB Verlet", "EGNN MD", "LSTM on xTB forces", "LSTM on EGNN forces"}
    assert all(r["s_per_ps"] > 0 for r in rows.values())
    # one xTB call per 10 fs stride against 20 Verlet steps of 0.5 fs: the operator on xTB forces is faster
    assert rows["LSTM on xTB forces"]["speedup_over_xtb"] > 2.0
    assert rows["EGNN MD"]["training_s"] > 0
    xtb = json.loads((out / "xtb-verlet" / "run_info.json").read_text())
    assert xtb["force_provider"] == "ASE TBLite" and xtb["n_steps"] >= 1
    for step in ("egnn-model", "egnn", "lstm-model", "lstm-egnn", "lstm-xtb", "xtb-verlet"):
        assert (out / step / "config.yaml").exists()
    assert "COST TABLE" in (out / "cost_table.md").read_text()


@pytest.mark.slow
def test_argon_demo_runs_end_to_end_in_quick_mode(tmp_path, capsys):
    from surrogate.cli.demo import run_demo

    html = run_demo(tmp_path / "demo", quick=True, system="argon")
    capsys.readouterr()
    payload = json.loads((html.parent / "comparison.json").read_text())
    assert set(payload["runs"]) == {"classical", "egnn", "lstm"}
    assert set(payload["distances"]) == {"egnn", "lstm"}
    assert payload["runs"]["egnn"]["cost"]["ns_per_day"] > 0 and payload["speedup"]["lstm"] is not None
    assert html.read_text().count("data:image/png;base64,") >= 7  # incl. the EGNN's force parity on reference frames
    assert payload["distances"]["egnn"]["force"]["detail"]["n_frames"] > 0
    for step in ("reference", "egnn-model", "egnn", "lstm-model", "lstm"):
        assert (tmp_path / "demo" / step / "config.yaml").exists()
