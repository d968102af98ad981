"""A real reporter that keeps what it sees (for tests of short runs)."""

from integrators.reporters.base import IntervalReporter


class Recorder(IntervalReporter):
    """Records (step, temperature, energy, ...) at every report; ``fields`` as requested."""

    def __init__(self, interval: int, fields=frozenset(), report_initial: bool = False):
        super().__init__(interval)
        self.fields = frozenset(fields)
        self.report_initial = report_initial
        self.steps, self.temperatures, self.energies, self.kinetic, self.conserved, self.stresses = [], [], [], [], [], []

    def report(self, simulation, snapshot):
        self.steps.append(snapshot.step)
        self.temperatures.append(snapshot.temperature_K)
        self.kinetic.append(snapshot.kinetic_energy)
        self.conserved.append(snapshot.conserved_energy)
        if snapshot.result is not None:
            self.energies.append(snapshot.result.energy)
            self.stresses.append(snapshot.result.stress)
