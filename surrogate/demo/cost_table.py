"""The demo's cost table: what each method costs per simulated ps, and when a surrogate has paid for itself.

For each method (xTB velocity Verlet, EGNN MD, the LSTM operator on xTB forces, the LSTM operator on EGNN forces):

- wall seconds per simulated ps, from the ``run_info.json`` of its run (production only: wall time of the
  integration loop, including trajectory and log output, divided by the simulated time);
- the speedup over xTB Verlet (xTB's seconds per ps / the method's);
- the training cost in seconds: the EGNN's training; for the operators, everything their training data needed
  (EGNN training + EGNN MD) plus the operator's own training;
- the break-even simulated time, training cost / (xTB s per ps − method s per ps), in ps: the length of
  simulation after which training and running the surrogate cost less than running xTB; and the same with the
  cost of the shipped reference run added (every surrogate here learned from it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from systems.atomic_file import atomic_write_text
from systems.errors import InputError

XTB = "xTB Verlet"
EGNN = "EGNN MD"
LSTM_XTB = "LSTM on xTB forces"
LSTM_EGNN = "LSTM on EGNN forces"


def _run_info(folder) -> dict:
    path = Path(folder) / "run_info.json"
    if not path.is_file():
        raise InputError(f"cost table: {path} does not exist (the run did not finish)")
    return json.loads(path.read_text())


def seconds_per_ps(info: dict, where: str = "run") -> float:
    """Wall seconds per simulated ps of a run's ``run_info.json`` content."""
    wall, ps = info.get("wall_time_s"), info.get("simulated_ps")
    if wall is None or not ps:
        raise InputError(f"cost table: {where} records no wall time or no simulated time")
    return float(wall) / float(ps)


@dataclass
class CostInputs:
    """Seconds per simulated ps of each method, training seconds, and the reference run's wall seconds (or None)."""

    xtb_s_per_ps: float
    egnn_s_per_ps: float
    lstm_xtb_s_per_ps: float
    lstm_egnn_s_per_ps: float
    egnn_train_s: float
    egnn_md_s: float
    lstm_train_s: float
    reference_s: float | None = None
    reference_ps: float | None = None
    #: method name → why its run stopped early (a runaway), for runs that did not finish
    stopped: dict | None = None

    @classmethod
    def from_runs(cls, *, reference, xtb_verlet, egnn, lstm_xtb, lstm_egnn, egnn_train_s: float,
                  lstm_train_s: float) -> "CostInputs":
        """From the run folders of the demo (each with ``run_info.json``) and the measured training walls."""
        infos = {XTB: _run_info(xtb_verlet), EGNN: _run_info(egnn), LSTM_XTB: _run_info(lstm_xtb),
                 LSTM_EGNN: _run_info(lstm_egnn)}
        where = {XTB: xtb_verlet, EGNN: egnn, LSTM_XTB: lstm_xtb, LSTM_EGNN: lstm_egnn}
        rate = {name: seconds_per_ps(info, str(where[name])) for name, info in infos.items()}
        stopped = {name: f"stopped after {info.get('simulated_ps', 0.0):.3g} ps: {info['failed']}"
                   for name, info in infos.items() if info.get("failed")}
        egnn_info = infos[EGNN]
        ref_path = Path(reference) / "run_info.json"
        ref = json.loads(ref_path.read_text()) if ref_path.is_file() else {}
        return cls(xtb_s_per_ps=rate[XTB], egnn_s_per_ps=rate[EGNN], lstm_xtb_s_per_ps=rate[LSTM_XTB],
                   lstm_egnn_s_per_ps=rate[LSTM_EGNN], stopped=stopped,
                   egnn_train_s=float(egnn_train_s), egnn_md_s=float(egnn_info["wall_time_s"]),
                   lstm_train_s=float(lstm_train_s), reference_s=ref.get("wall_time_s"),
                   reference_ps=ref.get("simulated_ps"))


def break_even_ps(training_s: float, reference_s_per_ps: float, method_s_per_ps: float) -> float | None:
    """Simulated ps after which ``training_s`` + the method's cost is below the reference's cost (None: never)."""
    saving = reference_s_per_ps - method_s_per_ps
    if saving <= 0:
        return None
    return training_s / saving


def build_cost_table(inputs: CostInputs, *, tolerances_pass: bool, comparison=None) -> dict:
    """The table as a JSON-ready dict: ``rows`` (one per method) and the demo's verdict."""
    xtb = inputs.xtb_s_per_ps
    operator_training = inputs.egnn_train_s + inputs.egnn_md_s + inputs.lstm_train_s
    rows = [
        (XTB, xtb, 0.0, "velocity Verlet, 0.5 fs, GFN2-xTB through tblite, timed live on a few steps"),
        (EGNN, inputs.egnn_s_per_ps, inputs.egnn_train_s, "Langevin MD, 0.5 fs; training: surrogate train egnn"),
        (LSTM_XTB, inputs.lstm_xtb_s_per_ps, operator_training,
         "one xTB call per 10 fs stride (20 Verlet steps); its first window came from stored xTB frames (a fresh "
         "start adds W−1 strides of xTB Verlet once); training: EGNN training + EGNN MD + operator training"),
        (LSTM_EGNN, inputs.lstm_egnn_s_per_ps, operator_training,
         "one EGNN call per 10 fs stride; training as above"),
    ]
    data_s = float(inputs.reference_s) if inputs.reference_s is not None else None
    table_rows = []
    for name, s_per_ps, training, how in rows:
        surrogate = name != XTB
        even = break_even_ps(training, xtb, s_per_ps) if surrogate else None
        even_data = break_even_ps(training + data_s, xtb, s_per_ps) if surrogate and data_s is not None else None
        table_rows.append({"method": name, "s_per_ps": s_per_ps, "speedup_over_xtb": xtb / s_per_ps,
                           "training_s": training, "break_even_ps": even,
                           "break_even_with_reference_data_ps": even_data, "how": how,
                           "stopped": (inputs.stopped or {}).get(name)})
    all_faster = all(r["s_per_ps"] < xtb for r in table_rows if r["method"] != XTB)
    noise = None
    if comparison is not None and Path(comparison).is_file():
        noise = json.loads(Path(comparison).read_text()).get("reference_noise")
    completed = not any(r["stopped"] for r in table_rows)
    return {"rows": table_rows, "xtb_s_per_ps": xtb, "reference_data_s": data_s,
            "reference_data_ps": inputs.reference_ps, "every_surrogate_faster": bool(all_faster),
            "every_run_completed": bool(completed), "tolerances_pass": bool(tolerances_pass),
            "demo_target_met": bool(all_faster and tolerances_pass and completed),
            "comparison": None if comparison is None else str(comparison), "reference_noise": noise}


def _num(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "never"
    return f"{x:.{digits}g}"


def format_cost_table(table: dict) -> str:
    """The table as Markdown (also what the demo prints)."""
    lines = ["COST TABLE (per simulated ps of 24-atom GFN2-xTB water; wall time on this machine)", "",
             "| method | s per ps | speedup over xTB | training (s) | break-even (ps) | break-even incl. "
             "reference data (ps) |",
             "|---|---|---|---|---|---|"]
    for r in table["rows"]:
        surrogate = r["method"] != XTB
        with_data = surrogate and table.get("reference_data_s") is not None
        mark = " (stopped early)" if r.get("stopped") else ""
        lines.append(f"| {r['method']}{mark} | {_num(r['s_per_ps'])} | {_num(r['speedup_over_xtb'])}× | "
                     f"{_num(r['training_s']) if surrogate else '–'} | "
                     f"{_num(r['break_even_ps']) if surrogate else '–'} | "
                     f"{_num(r['break_even_with_reference_data_ps']) if with_data else '–'} |")
    data = table.get("reference_data_s")
    lines += ["", "break-even = training / (xTB s per ps − method s per ps); the LSTM's training includes the EGNN "
                  "training and EGNN MD that made its data; reference data = the shipped xTB run"
              + (f" ({_num(data)} s for {_num(table.get('reference_data_ps'))} ps)" if data is not None
                 else " (its cost is not recorded)") + ".",
              *[f"{r['method']}: {r['stopped']}" for r in table["rows"] if r.get("stopped")],
              *_noise_line(table.get("reference_noise")),
              f"every surrogate faster than xTB per simulated ps: {'yes' if table['every_surrogate_faster'] else 'NO'}; "
              f"all tolerances of surrogate compare pass: {'yes' if table['tolerances_pass'] else 'NO'}"]
    return "\n".join(lines)


def _noise_line(noise) -> list[str]:
    """How far the reference's own halves are apart (what a surrogate's distances can be resolved to)."""
    if not isinstance(noise, dict):
        return []
    parts = [f"{k} {_num(v, 2)}" for k, v in noise.items() if isinstance(v, (int, float))]
    return [f"the reference's first and second halves differ by {', '.join(parts)} (compare's distances): "
            "a surrogate's distance below these is within the reference's own noise"] if parts else []


def write_cost_table(table: dict, out_dir) -> tuple[Path, Path]:
    """``OUT/cost_table.json`` and ``OUT/cost_table.md``, written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return (atomic_write_text(out / "cost_table.json", json.dumps(table, indent=1) + "\n"),
            atomic_write_text(out / "cost_table.md", format_cost_table(table) + "\n"))
