"""The main demo as a benchmark: is every surrogate faster than GFN2-xTB per simulated ps, at matching fidelity?

Runs ``surrogate demo`` (GFN2-xTB periodic water: EGNN, force-input LSTM operator on EGNN and on xTB forces,
xTB Verlet timed live, ``surrogate compare`` against the shipped reference) and writes
``benchmarks/results/demo.json`` with the cost table as figures and one target, value 1 or 0:
"demo: every surrogate faster than its reference per simulated ps and all tolerances pass". A second target
records the demo's wall time against its 10-minute budget (``--quick``: the pipeline check, whose models are too
small to pass the tolerances; its result says so).

    python benchmarks/demo.py            # the full demo, about 10 minutes on 2 cores
    python benchmarks/demo.py --quick    # about a minute
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import target, write_result  # noqa: E402

TARGET = "demo: every surrogate faster than its reference per simulated ps and all tolerances pass"
BUDGET_S = 600.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the demo's --quick pipeline check")
    parser.add_argument("--out", default=None, help="folder for the demo's outputs (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from surrogate.cli.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="demo_bench_") as tmp:
        out = pathlib.Path(args.out or tmp) / "surrogate-demo"
        start = time.perf_counter()
        html = run_demo(out, quick=args.quick, seed=args.seed)
        wall = time.perf_counter() - start
        table = json.loads((out / "cost_table.json").read_text())
        comparison = json.loads((html.parent / "comparison.json").read_text())
    figures = {"quick": bool(args.quick), "demo_wall_s": wall, "cost_table": table,
               "distances": {run: {name: d.get("value") for name, d in dists.items()}
                             for run, dists in comparison.get("distances", {}).items()}}
    if args.quick:
        figures["note"] = "--quick: tiny models, a pipeline check; the tolerances are judged on the full demo"
    targets = [target(TARGET, 1.0 if table["demo_target_met"] else 0.0, 1.0, "higher"),
               target("demo: wall time of the whole surrogate demo (s), 2 cores", wall, BUDGET_S, "lower")]
    write_result("demo", figures, targets)


if __name__ == "__main__":
    main()
