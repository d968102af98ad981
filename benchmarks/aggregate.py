"""Run several benchmark parts and write their rows as one result file.

A part is a module ``benchmarks.PART`` with ``run(quick: bool) -> (figures: dict, targets: list[dict])``
(target rows as made by :func:`benchmarks._common.target`). Each part runs in this process, one after the
other, with one thread (the rule every benchmark here uses so that ratios are comparable on a shared
machine). A part that raises is recorded, not hidden: its error text goes into the figures and a target row
``"<part>: ran"`` with value 0 (met False) stands in for the rows it would have written, and the script
exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import target, write_result  # noqa: E402


def run_parts(name: str, parts: list[str], quick: bool) -> tuple[dict, list[dict], list[str]]:
    """Run each part; returns (figures keyed by part, every target row, the parts that failed)."""
    figures: dict = {"quick": quick, "load_average_before": list(os.getloadavg())}
    targets: list[dict] = []
    failed: list[str] = []
    for part in parts:
        print(f"== {name}: {part} ({'quick' if quick else 'full'})", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{part}")
            part_figures, part_targets = module.run(quick)
            figures[part] = part_figures
            targets.extend(part_targets)
        except Exception as err:  # recorded in the result, and the script fails
            traceback.print_exc()
            figures[part] = {"error": f"{type(err).__name__}: {err}"}
            row = target(f"{part}: ran", 0.0, 1.0, "higher")
            targets.append(row)
            failed.append(part)
        figures.setdefault(part, {})
        if isinstance(figures[part], dict):
            figures[part]["wall_s"] = round(time.perf_counter() - start, 2)
    figures["load_average_after"] = list(os.getloadavg())
    return figures, targets, failed


def main(name: str, parts: list[str], description: str, argv=None) -> int:
    """Command line of an aggregating benchmark: ``--quick`` and ``--parts a,b`` (a subset, for a rerun)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="the short version of every part (under 2 min in all)")
    parser.add_argument("--parts", default=None,
                        help=f"comma-separated subset of the parts ({', '.join(parts)}); the result file then "
                             "holds only their rows")
    args = parser.parse_args(argv)
    chosen = parts if args.parts is None else [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(parts))
    if unknown:
        parser.error(f"unknown part(s) {unknown}; known: {parts}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)
    figures, targets, failed = run_parts(name, chosen, args.quick)
    write_result(name if args.parts is None else f"{name}_{'_'.join(chosen)}", figures, targets)
    if failed:
        print(f"parts that failed: {failed}", file=sys.stderr)
    return 1 if failed else 0
