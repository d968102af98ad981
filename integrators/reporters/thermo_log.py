"""Thermodynamic log in CSV, one flushed line per report."""

from __future__ import annotations

import math
import os
from pathlib import Path

from systems import units
from systems.errors import InputError

from .base import IntervalReporter, Snapshot

#: Columns always written; each name carries its unit.
COLUMNS = ("step", "time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K", "pressure_GPa", "conserved_eV")

#: Columns added when the first logged result carries a committee's ``uncertainty`` (``ForceResult.uncertainty``).
UNCERTAINTY_COLUMNS = ("energy_std_eV", "max_force_std_eV_per_A")


class ThermoLogReporter(IntervalReporter):
    """CSV log every ``interval`` steps: step, time_ps, epot_eV, ekin_eV, etot_eV,
    temperature_K, pressure_GPa (empty without stress), conserved_eV
    (E_tot minus the energy a thermostat has added), then, when the first
    logged force result carries an ``uncertainty`` (a committee), energy_std_eV
    and max_force_std_eV_per_A (empty on rows whose result has none), then any
    columns the integrator adds (e.g. ``mc_acceptance``, ``mc_step_A``).

    ``path_or_stream`` is a file path (created, or appended to with
    ``append=True``) or an open text stream (left open on close).
    ``pressure=True`` asks for the stress at each logged step (free for the
    classical potentials, which compute the virial in the same pass).
    """

    def __init__(self, path_or_stream, interval: int, pressure: bool = True, append: bool = False):
        super().__init__(interval)
        self.fields = frozenset({"energy", "stress"} if pressure else {"energy"})
        if hasattr(path_or_stream, "write"):
            self._stream, self._owned = path_or_stream, False
            self.path = None
        else:
            self.path = Path(path_or_stream)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            resume = append and self.path.exists() and self.path.stat().st_size > 0
            self._stream, self._owned = open(self.path, "a" if append else "w", encoding="utf-8"), True
            self._header_written = resume
        self._columns = None
        if not self._owned:
            self._header_written = False

    def report(self, simulation, snapshot: Snapshot) -> None:
        epot = snapshot.result.energy if snapshot.result is not None else math.nan
        row = {
            "step": snapshot.step,
            "time_ps": snapshot.time / units.ps,
            "epot_eV": epot,
            "ekin_eV": snapshot.kinetic_energy,
            "etot_eV": epot + snapshot.kinetic_energy,
            "temperature_K": snapshot.temperature_K,
            "pressure_GPa": snapshot.pressure_GPa,
            "conserved_eV": snapshot.conserved_energy,
            **_uncertainty_row(snapshot.result),
            **snapshot.extra,
        }
        if self._columns is None:
            base = list(COLUMNS)
            if snapshot.result is not None and snapshot.result.uncertainty is not None:
                base += UNCERTAINTY_COLUMNS
            self._columns = base + [k for k in snapshot.extra if k not in base]
            if not self._header_written:
                self._stream.write(",".join(self._columns) + "\n")
                self._header_written = True
        self._stream.write(",".join(_format(row.get(c)) for c in self._columns) + "\n")
        self._stream.flush()

    def resume(self, simulation) -> str | None:
        """Cut the log back to its rows of steps ≤ ``simulation.step`` (rows a killed run wrote after its
        last checkpoint, and a half-written last row, are dropped); returns what was done."""
        if not self._owned or not self._header_written:
            return None
        self._stream.flush()
        kept, dropped, torn, end = _rows_up_to(self.path, simulation.step)
        os.truncate(self.path, end)
        self._header_written = end > 0
        torn = " and an incomplete last row" if torn else ""
        return f"{self.path.name}: kept {kept} rows, dropped {dropped} written after step {simulation.step}{torn}"

    def close(self) -> None:
        if self._owned and not self._stream.closed:
            self._stream.close()
        super().close()


def _rows_up_to(path: Path, step: int) -> tuple:
    """(rows kept, whole rows dropped, incomplete last line?, byte to cut at) for the rows of steps ≤ ``step``.

    The first column is ``step``; rows follow in step order, so everything from the first row past
    ``step`` goes. A last line without its newline was cut off by a kill and goes too (with the header,
    if that is the line).
    """
    kept = dropped = 0
    end, torn = 0, False
    with open(path, "rb") as fh:
        header = fh.readline()
        if not header.endswith(b"\n"):
            return 0, 0, bool(header), 0
        end = fh.tell()
        for line in iter(fh.readline, b""):
            if not line.endswith(b"\n"):
                torn = True
                break
            if dropped:
                dropped += 1
                continue
            try:
                row_step = int(line.split(b",", 1)[0])
            except ValueError:
                raise InputError(f"{path}: row {kept + 1} does not start with a step number: "
                                 f"{line[:40].decode(errors='replace')!r}") from None
            if row_step > step:
                dropped += 1
                continue
            kept += 1
            end = fh.tell()
    return kept, dropped, torn, end


def _uncertainty_row(result) -> dict:
    """The uncertainty columns of a result (eV, eV/Å); empty when it carries no ``uncertainty``."""
    spread = getattr(result, "uncertainty", None)
    if spread is None:
        return {}
    return {"energy_std_eV": spread.get("energy_std"), "max_force_std_eV_per_A": spread.get("max_force_std")}


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.12g}"
