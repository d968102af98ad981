"""A CLI run whose force provider goes non-finite stops with the step named (exit 1, as for any runaway)."""

from __future__ import annotations

from surrogate.cli import main


def test_run_stops_at_the_step_whose_forces_are_not_finite(tmp_path, capsys):
    out = tmp_path / "run"
    # ASE Lennard-Jones argon for the first evaluation and 7 steps, NaN on atom 3 from step 8 on.
    argv = ["run", "--system", "liquid-argon", "--n-atoms", "32", "--integrator", "verlet", "--timestep-fs", "2",
            "--steps", "20", "--equilibrate-ps", "0", "--traj-interval", "5", "--log-interval", "5",
            "--ase-calculator", "tests.nonfinite_calculator:GoesNonFinite",
            "--calculator-args", "{finite_calls: 8, atom: 3}", "--out", str(out), "--no-progress"]
    status = main(argv)
    _, err = capsys.readouterr()
    assert status == 1, err
    assert "runaway at step 8" in err and "ASE calculator GoesNonFinite: non-finite forces on 1 atom (first: 3)" in err
    assert "Traceback" not in err
    rows = (out / "thermo.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:] if r and r[0].isdigit()] == [0, 5]  # what came before is kept


def test_non_finite_forces_on_the_starting_structure_are_bad_input(tmp_path, capsys):
    """Before the first step nothing has blown up: the model or calculator is wrong for this input (exit 2)."""
    argv = ["run", "--system", "liquid-argon", "--n-atoms", "32", "--integrator", "verlet", "--steps", "5",
            "--equilibrate-ps", "0", "--ase-calculator", "tests.nonfinite_calculator:GoesNonFinite",
            "--calculator-args", "{finite_calls: 0, atom: 3}", "--out", str(tmp_path / "run"), "--no-progress"]
    status = main(argv)
    _, err = capsys.readouterr()
    assert status == 2
    assert err.strip().splitlines()[-1] == ("surrogate run: error: ASE calculator GoesNonFinite: "
                                            "non-finite forces on 1 atom (first: 3)")
