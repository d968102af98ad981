"""Progress bar with simulated speed (ns/day) and ETA, through tqdm."""

from __future__ import annotations

import time as _time

from systems import units

from .base import IntervalReporter, Snapshot


class ProgressReporter(IntervalReporter):
    """A tqdm bar over ``total_steps`` steps, updated every ``interval`` steps.

    Shows steps/s, ns/day of simulated time and tqdm's ETA. Writes to stderr
    (or ``file``); ``disable=True`` keeps the bookkeeping but draws nothing.
    """

    report_initial = False

    def __init__(self, total_steps: int, interval: int = 100, file=None, disable: bool = False):
        super().__init__(interval)
        from tqdm.auto import tqdm

        self.total_steps = int(total_steps)
        self._bar = tqdm(total=self.total_steps, unit="step", file=file, disable=disable, dynamic_ncols=True)
        self._start = None  # (step, time, wall) at the first call
        self._origin = None  # the step the bar counts from: the first step seen, or the checkpoint's
        self.step = 0  #: steps of ``total_steps`` done, as the bar shows them (kept even when disabled)
        self.ns_per_day = float("nan")

    def describe_next_report(self, step: int):
        if self._start is None:
            self._start = (step, None, _time.perf_counter())
        if self._origin is None:
            self._origin = step
        return super().describe_next_report(step)

    def resume(self, simulation) -> None:
        """Continue from the checkpoint: the bar starts at its step (of ``total_steps``); speed and ETA
        count from now."""
        self._origin = 0
        self.step = self._bar.initial = self._bar.n = simulation.step
        self._bar.refresh()
        self._start = (simulation.step, simulation.time, _time.perf_counter())
        return None

    def report(self, simulation, snapshot: Snapshot) -> None:
        step0, time0, wall0 = self._start
        if time0 is None:
            time0 = snapshot.time - (snapshot.step - step0) * simulation.integrator.timestep
            self._start = (step0, time0, wall0)
        wall = _time.perf_counter() - wall0
        if wall > 0:
            self.ns_per_day = (snapshot.time - time0) / units.ns / wall * 86400.0
        self.step = snapshot.step - self._origin
        self._bar.update(self.step - self._bar.n)
        self._bar.set_postfix_str(f"{self.ns_per_day:.3g} ns/day", refresh=False)

    def close(self) -> None:
        self._bar.close()
        super().close()
