"""One --threads rule for every command (surrogate.threads): the flag reaches torch and Numba, bad values are
refused, and the default rule leaves the cores other processes use alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from surrogate import threads
from surrogate.cli import build_parser, leaf_parsers, main
from systems.errors import InputError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cpus, load, env, expected", [
    (2, 0.0, None, 2),      # a quiet 2-core machine: both cores
    (2, 0.4, None, 2),      # a little background noise rounds away
    (2, 1.2, None, 1),      # one busy process: one core left
    (2, 9.0, None, 1),      # an overloaded machine: never fewer than 1
    (8, 2.6, None, 5),      # 8 cores, about 3 busy
    (4, 0.0, "3", 3),       # the user's OMP_NUM_THREADS decides
    (4, 5.0, "6", 6),       # ... even above the CPU count
    (4, 1.0, "abc", 3),     # an unusable value is ignored
    (4, 1.0, "0", 3),
])
def test_default_rule_is_cpus_minus_other_load_at_least_one(cpus, load, env, expected):
    n, why = threads.default_thread_count(cpus=cpus, load=load, env_omp=env, host_cpus=cpus)
    assert n == expected
    assert ("OMP_NUM_THREADS" in why) == (env == str(expected))


def test_on_a_shared_host_only_this_processs_share_of_the_load_counts():
    """Pinned to 2 of 64 CPUs with a host load of 40: about 1.25 of it falls on our cores."""
    assert threads.default_thread_count(cpus=2, load=40.0, env_omp=None, host_cpus=64)[0] == 1
    assert threads.default_thread_count(cpus=2, load=10.0, env_omp=None, host_cpus=64)[0] == 2
    n, why = threads.default_thread_count(cpus=8, load=32.0, env_omp=None, host_cpus=64)
    assert n == 4 and "on 64 CPUs" in why


def test_default_rule_on_this_machine_is_between_one_and_the_cpu_count():
    n, _ = threads.default_thread_count(env_omp=None)
    assert 1 <= n <= threads.usable_cpus() <= (os.cpu_count() or 1)
    assert threads.other_load() >= 0.0


def test_every_command_takes_threads():
    leaves = leaf_parsers(build_parser())
    names = sorted(p.prog for p in leaves)
    assert names == ["surrogate compare", "surrogate demo", "surrogate export", "surrogate generate", "surrogate learn",
                     "surrogate run", "surrogate train egnn", "surrogate train lstm"]
    for parser in leaves:
        assert any("--threads" in a.option_strings for a in parser._actions), parser.prog


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_bad_threads_are_refused_naming_the_flag(value, tmp_path, capsys):
    status = main(["generate", "--threads", value, "--steps", "1", "--out", str(tmp_path / "x")])
    assert status == 2
    assert "--threads" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(InputError, match="--threads"):
        threads.apply_threads(0)


def _in_subprocess(code: str, env_omp: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in threads.ENV_VARS}
    env["PYTHONPATH"] = str(REPO)
    if env_omp is not None:
        env["OMP_NUM_THREADS"] = env_omp
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


CLI_THEN_REPORT = """
import json, sys
from surrogate.cli import main
status = main(sys.argv[1:] if len(sys.argv) > 1 else {argv!r})
import numba, torch
print(json.dumps({{"status": status, "torch": torch.get_num_threads(), "interop": torch.get_num_interop_threads(),
                  "numba": numba.get_num_threads()}}))
"""


def test_threads_flag_reaches_torch_and_numba_in_a_cli_call():
    """``surrogate compare --threads 2`` with OMP_NUM_THREADS=1 in the environment: the flag wins, in torch
    (intra- and inter-op, though torch is imported only after the command started) and in Numba. (compare
    without runs stops at once with status 2: the count is applied before the command's work.)"""
    got = _in_subprocess(CLI_THEN_REPORT.format(argv=["compare", "--threads", "2"]), env_omp="1")
    import numba

    numba_cap = numba.config.NUMBA_NUM_THREADS  # the same in the child: --threads leaves NUMBA_NUM_THREADS alone
    assert got == {"status": 2, "torch": 2, "interop": 2, "numba": min(2, numba_cap)}


def test_the_chosen_count_is_written_in_config_yaml(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "--n-atoms", "32", "--steps", "1", "--equilibrate-ps", "0", "--no-progress",
                 "--threads", "1", "--out", str(out)]) == 0, capsys.readouterr().err
    assert "# threads: 1 (--threads)" in (out / "config.yaml").read_text()
    assert main(["generate", "--n-atoms", "32", "--steps", "1", "--equilibrate-ps", "0", "--no-progress",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    n, why = threads.default_thread_count()
    header = (out / "config.yaml").read_text().splitlines()[1]
    assert header.startswith("# threads: ") and ("OMP_NUM_THREADS" in why) == ("OMP_NUM_THREADS" in header)
    threads.apply_threads(1)  # the rest of the test session runs on one thread, as the test command asks


def test_a_step_run_inside_a_command_keeps_its_count(monkeypatch):
    """The demo runs its steps through cli.main in the same process: a step without --threads keeps the demo's."""
    import surrogate.cli as cli

    first = threads.apply_threads(1)
    monkeypatch.setattr(cli, "_depth", 1)
    assert cli._apply_threads(None) is first
    import torch

    assert torch.get_num_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"
