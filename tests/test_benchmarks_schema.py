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


def test_reference_accuracy_copies_other_benchmarks_rows_with_source_and_date(tmp_path):
    from benchmarks import reference_accuracy

    nbody = {"date": "2026-12-01T10:00:00Z", "targets": [
        {"name": "EGNN N-body test MSE (full protocol)", "value": 0.0069, "target": 0.0071, "better": "lower",
         "met": True},
        {"name": "unrelated row", "value": 1.0, "target": 2.0, "better": "lower", "met": True}]}
    (tmp_path / "egnn_nbody.json").write_text(json.dumps(nbody))
    (tmp_path / "demo.json").write_text(json.dumps({"date": "2026-12-01T11:00:00Z", "targets": []}))
    rows, notes = reference_accuracy.copied_rows(tmp_path)
    assert rows == [{"name": "EGNN N-body test MSE (full protocol)", "value": 0.0069, "target": 0.0071,
                     "better": "lower", "met": True, "source": "benchmarks/results/egnn_nbody.json",
                     "source_date": "2026-12-01T10:00:00Z"}]
    # An absent file and a file without a matching row give notes, never invented rows.
    assert any(n.startswith("threads.json: not found") for n in notes)
    assert any(n.startswith("demo.json: no target") for n in notes)


def test_committed_aspirin_start_structure_has_aspirins_bonds():
    from ase.io import read

    from benchmarks.data import make_xtb_aspirin

    atoms = read(make_xtb_aspirin.START)
    make_xtb_aspirin.check_aspirin(atoms)          # formula C9H8O4 and exactly aspirin's 21 bonds
    broken = atoms.copy()
    broken.positions[13] = broken.positions[12] + [0.0, 0.0, 2.5]   # pull the acid H off its oxygen
    with pytest.raises(ValueError, match="missing"):
        make_xtb_aspirin.check_aspirin(broken)


def test_aggregate_records_every_part_and_a_failing_part_as_unmet(tmp_path, monkeypatch):
    import sys
    import types

    from benchmarks import aggregate

    good = types.ModuleType("benchmarks._fake_good")
    good.run = lambda quick: ({"quick_seen": quick}, [_common.target("fake ratio", 5.0, 4.0, "higher")])
    bad = types.ModuleType("benchmarks._fake_bad")

    def broken(quick):
        raise RuntimeError("reference missing")

    bad.run = broken
    monkeypatch.setitem(sys.modules, "benchmarks._fake_good", good)
    monkeypatch.setitem(sys.modules, "benchmarks._fake_bad", bad)
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    status = aggregate.main("fake_all", ["_fake_good", "_fake_bad"], "fake", argv=["--quick"])
    data = json.loads((tmp_path / "fake_all.json").read_text())
    assert status == 1
    assert data["figures"]["_fake_good"]["quick_seen"] is True
    assert "reference missing" in data["figures"]["_fake_bad"]["error"]
    rows = {r["name"]: r for r in data["targets"]}
    assert rows["fake ratio"]["met"] and not rows["_fake_bad: ran"]["met"]
    # a subset is written under its own name and holds only its rows
    assert aggregate.main("fake_all", ["_fake_good", "_fake_bad"], "fake", argv=["--parts", "_fake_good"]) == 0
    subset = json.loads((tmp_path / "fake_all__fake_good.json").read_text())
    assert [r["name"] for r in subset["targets"]] == ["fake ratio"]
