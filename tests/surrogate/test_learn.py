"""Active learning (issue #12, Deliver 3): the diverse selection, and `surrogate learn` on EMT copper running
two rounds whose committee error on held-out reference frames decreases."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from surrogate.cli import main
from surrogate.learn import pick_uncertain

from .fallback_helpers import emt_copper_frames, write_frames


def test_pick_uncertain_takes_largest_spreads_apart():
    spreads = np.array([0.0, 0.5, 0.9, 0.8, 0.1, 0.2, 0.7, 0.3, 0.95, 0.6])
    # 8 (0.95) first; 2 (0.9) is far enough; 3 (0.8) is next to 2; 6 (0.7) is 2 from 8: taken
    assert pick_uncertain(spreads, 0.25, 10, 2) == [2, 6, 8]
    assert pick_uncertain(spreads, 0.25, 2, 2) == [2, 8]
    assert pick_uncertain(spreads, 0.99, 10, 1) == []
    assert pick_uncertain(spreads, 0.25, 10, 1) == [1, 2, 3, 6, 7, 8, 9]


def test_learn_two_rounds_lower_the_heldout_error(tmp_path):
    heldout = write_frames(emt_copper_frames(6, temperature_K=600.0, seed=11), tmp_path / "heldout.extxyz")
    out = tmp_path / "learn"
    argv = ["learn", "--system", "bulk:Cu", "--repeat", "1", "--reference", "emt", "--temperature-K", "600",
            "--n-seed", "6", "--seed-rattle", "0.15", "--max-force-std", "0.001", "--md-steps", "30",
            "--picks-per-round", "4", "--min-separation", "4", "--cutoff", "3.5",
            "--hidden", "8", "--layers", "1", "--epochs", "6", "--retrain-epochs", "6", "--heldout", str(heldout),
            "--threads", "1", "--out", str(out)]
    assert main([*argv, "--max-rounds", "1"]) == 0  # stopped after round 1, then resumed for round 2
    first = json.loads((out / "learning_curve.json").read_text())
    assert first["round"] == [0, 1]
    assert main([*argv, "--max-rounds", "2", "--resume"]) == 0
    curve = json.loads((out / "learning_curve.json").read_text())
    assert all(curve[key][:2] == first[key] for key in ("reference_calls", "heldout_force_mae_eV_A"))
    assert curve["round"] == [0, 1, 2]
    calls = curve["reference_calls"]  # 6 rattled seeds, then 1 to 4 picks per round
    assert calls[0] == 6 and all(1 <= b - a <= 4 for a, b in zip(calls, calls[1:])), calls
    mae = curve["heldout_force_mae_eV_A"]
    assert mae[2] < mae[0], mae
    labelled = (out / "labelled.extxyz").read_text().count("Properties=")
    assert labelled == calls[-1] == curve["labelled"][-1]
    from surrogate.egnn.committee import load_committee

    assert len(load_committee(out / "committee.pt")) == 2
    with Image.open(out / "learning_curve.png") as png:
        assert png.size[0] > 100
    # a finished run resumed does nothing more
    assert main([*argv, "--max-rounds", "2", "--resume"]) == 0
    assert json.loads((out / "learning_curve.json").read_text()) == curve
