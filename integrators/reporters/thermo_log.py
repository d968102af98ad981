"""Thermodynamic log in CSV, one flushed line per report."""

from __future__ import annotations

import math
from pathlib import Path

from systems import units

from .base import IntervalReporter, Snapshot

#: Columns always written; each name carries its unit.
COLUMNS = ("step", "time_ps", "epot_eV", "ekin_eV", "etot_eV", "temperature_K", "pressure_GPa", "conserved_eV")


class ThermoLogReporter(IntervalReporter):
    """CSV log every ``interval`` steps: step, time_ps, epot_eV, ekin_eV, etot_eV,
    temperature_K, pressure_GPa (empty without stress), conserved_eV
    (E_tot minus the energy a thermostat has added), then any columns the
    integrator adds (e.g. ``mc_acceptance``, ``mc_step_A``).

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
            **snapshot.extra,
        }
        if self._columns is None:
            self._columns = list(COLUMNS) + [k for k in snapshot.extra if k not in COLUMNS]
            if not self._header_written:
                self._stream.write(",".join(self._columns) + "\n")
                self._header_written = True
        self._stream.write(",".join(_format(row.get(c)) for c in self._columns) + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._owned and not self._stream.closed:
            self._stream.close()
        super().close()


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{float(value):.12g}"
