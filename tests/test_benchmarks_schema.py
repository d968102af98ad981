"""Benchmark result files: the schema, and a speedup that counts only on the accuracy it stands on.

No benchmark is run here; the writer and the README table generator are exercised on made-up rows.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import _common, summarize


def test_a_speedup_standing_on_an_unmet_accuracy_is_not_met():
    accuracy = _common.target("max |dE| of the timed rollout", 8.5e12, 1e-3, "lower")
    speedup = _common.target("speedup at 1000 steps", 36.6, 10.0, "higher", requires=[accuracy])
    assert not accuracy["met"]
    assert speedup["value"] >= speedup["target"] and not speedup["met"]
    assert speedup["requires"] == ["max |dE| of the timed rollout"]
    # The same speedup on an accurate rollout counts.
    accurate = _common.target("max |dE| of the timed rollout", 2e-4, 1e-3, "lower")
    assert _common.target("speedup at 1000 steps", 36.6, 10.0, "higher", requires=[accurate])["met"]
    # A NaN measurement never meets its goal.
    assert not _common.target("ratio", float("nan"), 1.0, "higher")["met"]
    with pytest.raises(ValueError, match="better"):
        _common.target("ratio", 2.0, 1.0, "more")


def test_result_file_schema_and_readme_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    monkeypatch.setattr(summarize, "RESULTS", tmp_path)
    accuracy = _common.target("rollout dE", 0.5, 1e-3, "lower")
    rows = [accuracy, _common.target("speedup", 40.0, 10.0, "higher", requires=[accuracy])]
    path = _common.write_result("fake_bench", {"n": 3}, rows, command="python benchmarks/fake_bench.py --quick")
    data = json.loads(path.read_text())
    assert path == tmp_path / "fake_bench.json" and not list(tmp_path.glob("*.tmp"))
    assert {"date", "command", "figures", "targets"} <= set(data)
    assert data["figures"] == {"n": 3} and data["command"] == "python benchmarks/fake_bench.py --quick"
    for row in data["targets"]:
        assert {"name", "value", "target", "better", "met"} <= set(row) and row["better"] in ("lower", "higher")
    capsys.readouterr()
    summarize.main()
    table = capsys.readouterr().out
    assert "| speedup | 40 | ≥ 10 | no (rollout dE: not met) |" in table
    assert "| rollout dE | 0.5 | ≤ 0.001 | no |" in table
