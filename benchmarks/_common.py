"""Shared helpers for benchmark scripts: timing, targets, and the JSON result file.

Every benchmark writes ``benchmarks/results/NAME.json`` shaped as
``{"date", "command", "figures": {...}, "targets": [{"name", "value", "target", "better", "met"}]}``;
a target that stands on others (a speedup on the accuracy of the run it timed) also carries
``"requires": [names]`` and is met only where its own goal and every required target are met.
Targets are measured values against goals: a constant of the script (a stride, a step count) is a figure.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
import timeit
from pathlib import Path

import numpy as np

from systems.atomic_file import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def command_line() -> str:
    """The command that ran this benchmark, as a user would retype it."""
    return "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0])] + sys.argv[1:])


def target(name: str, value: float, goal: float, better: str, requires: list[dict] | tuple = ()) -> dict:
    """One target row; ``better`` is "lower" or "higher".

    ``requires``: target rows this one stands on (e.g. the accuracy of the rollout a speedup was timed on);
    the row is met only where its own goal and every required row are met, and it names them.
    A NaN value is never met.
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"`better` must be 'lower' or 'higher', got {better!r}")
    met = bool(value <= goal) if better == "lower" else bool(value >= goal)
    row = {"name": name, "value": float(value), "target": float(goal), "better": better, "met": met}
    if requires:
        row["requires"] = [r["name"] for r in requires]
        row["met"] = met and all(r["met"] for r in requires)
    return row


def write_result(name: str, figures: dict, targets: list[dict], command: str | None = None) -> Path:
    """Write ``results/NAME.json`` atomically and print the targets table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or command_line(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "figures": figures,
        "targets": targets,
    }
    path = atomic_write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2, default=_jsonable) + "\n")
    print(f"\n{'target':<55} {'value':>12} {'goal':>12}  met")
    for t in targets:
        unmet = [r for r in t.get("requires", ()) if not _met(targets, r)]
        note = f"  (needs: {'; '.join(unmet)})" if unmet else ""
        print(f"{t['name']:<55} {t['value']:>12.4g} {t['target']:>12.4g}  {'yes' if t['met'] else 'NO'}{note}")
    print(f"wrote {path}")
    return path


def _met(targets: list[dict], name: str) -> bool:
    return any(t["name"] == name and t["met"] for t in targets)


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    return float(np.median(timeit.repeat(fn, number=1, repeat=repeats)))
