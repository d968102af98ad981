"""Print every benchmark result as Markdown: date, command and targets.

    python benchmarks/summarize.py > /tmp/table.md

Reads ``benchmarks/results/*.json`` (the shape written by ``_common.write_result``). A target that
``requires`` others is shown "no (X: not met)" where its own goal is reached but a target it stands on is not.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


def main() -> None:
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        print(f"### {path.stem}\n")
        print(f"- date: {data['date']}")
        print(f"- command: `{data['command']}`\n")
        print("| target | value | goal | met |\n|---|---|---|---|")
        met = {t["name"]: t["met"] for t in data["targets"]}
        for t in data["targets"]:
            op = "≤" if t["better"] == "lower" else "≥"
            unmet = [name for name in t.get("requires", ()) if not met.get(name, False)]
            verdict = "yes" if t["met"] else "no" + (f" ({'; '.join(unmet)}: not met)" if unmet else "")
            print(f"| {t['name']} | {fmt(t['value'])} | {op} {fmt(t['target'])} | {verdict} |")
        print()


if __name__ == "__main__":
    main()
