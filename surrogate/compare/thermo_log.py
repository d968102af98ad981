"""Reading a run's thermodynamic log (the CSV ``ThermoLogReporter`` writes).

Columns, by header name: ``step, time_ps, epot_eV, ekin_eV, etot_eV,
temperature_K, pressure_GPa, conserved_eV`` (any subset, any order; extra
columns such as ``wall_s`` are kept). Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from systems.errors import InputError


@dataclass
class ThermoLog:
    """Columns of a thermo CSV as float64 arrays keyed by header name (``time_ps``, ``epot_eV``, ...)."""

    columns: dict
    path: str = ""

    def get(self, name: str):
        """The column ``name`` as float64 [rows], or None if the log lacks it or it is all NaN."""
        col = self.columns.get(name)
        if col is None or not np.isfinite(col).any():
            return None
        return col

    def since(self, time_ps: float) -> "ThermoLog":
        """The rows at or after ``time_ps`` (ps)."""
        keep = self.columns["time_ps"] >= time_ps - 1e-9
        return ThermoLog({name: col[keep] for name, col in self.columns.items()}, self.path)

    def between(self, start_ps: float, end_ps: float) -> "ThermoLog":
        """The rows with ``start_ps <= time_ps <= end_ps`` (ps)."""
        t = self.columns["time_ps"]
        keep = (t >= start_ps) & (t <= end_ps)
        return ThermoLog({name: col[keep] for name, col in self.columns.items()}, self.path)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def read_thermo_log(path) -> ThermoLog:
    """Parse a thermo CSV; raises :class:`InputError` naming the file and line for malformed rows."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise InputError(f"cannot read log file {str(path)!r}: {exc}") from None
    if not lines:
        raise InputError(f"log file {str(path)!r} is empty")
    reader = csv.reader(lines)
    header = [h.strip() for h in next(reader)]
    if "time_ps" not in header:
        raise InputError(f"log file {str(path)!r} has no `time_ps` column (header: {', '.join(header)})")
    rows = []
    for lineno, row in enumerate(reader, start=2):
        if len(row) != len(header):
            raise InputError(f"{path}: data row {lineno} has {len(row)} fields, header has {len(header)}")
        try:
            rows.append([float(x) if x.strip() not in ("", "nan", "None") else np.nan for x in row])
        except ValueError as exc:
            raise InputError(f"{path}: data row {lineno}: {exc}") from None
    data = np.asarray(rows, dtype=np.float64).reshape(-1, len(header))
    return ThermoLog({name: data[:, k] for k, name in enumerate(header)}, str(path))
