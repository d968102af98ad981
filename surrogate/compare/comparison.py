"""Comparing runs against a reference: ``compare_trajectories(ref, others) -> ComparisonResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from systems.errors import InputError

from . import cost as cost_mod
from .distances import (DIFFUSION_FLOOR_A2_PER_PS, VACF_WINDOW_PS, Distance, Tolerances, density_difference,
                        force_parity, relative_error, rdf_error, same_frames, vacf_error)
from .dynamics import Diffusion, VACF, diffusion, vacf
from .run_data import RunData, load_run
from .structure import bond_and_angle_distributions, radial_distributions
from .thermo import ThermoSeries, ThermoSummary, summarize, thermo_series


@dataclass
class RunMetrics:
    """What one run measures on its own (see the modules for units)."""

    run: RunData
    diffusion: Diffusion | None = None
    vacf: VACF | None = None
    thermo: ThermoSeries | None = None
    thermo_summary: ThermoSummary | None = None
    cost: cost_mod.Cost | None = None
    notes: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run.name

    def to_json(self) -> dict:
        r = self.run
        return {
            "name": r.name, "source": r.source, "n_atoms": r.n_atoms, "n_frames": r.n_frames,
            "duration_ps": float(r.times_ps[-1] - r.times_ps[0]) if r.n_frames else 0.0,
            "frame_interval_ps": r.frame_interval_ps, "periodic": r.periodic,
            "has_forces": r.forces is not None, "has_velocities": r.velocities is not None,
            "diffusion": None if self.diffusion is None else self.diffusion.to_json(),
            "vacf": None if self.vacf is None else self.vacf.to_json(),
            "thermo": None if self.thermo_summary is None else self.thermo_summary.to_json(),
            "cost": None if self.cost is None else self.cost.to_json(),
            "notes": list(self.notes), "info": r.info,
        }


@dataclass
class ComparisonResult:
    """Everything ``compare`` found: per-run metrics, shared curves, distances and output files.

    ``distances[name]`` lists the :class:`Distance` of run ``name`` against the reference;
    ``passed`` is True when every judged distance of every run is within tolerance.
    """

    reference: RunMetrics
    others: list
    tolerances: Tolerances
    rdf_kind: str = "rdf"
    rdf_r_max: float = 0.0
    rdfs: dict = field(default_factory=dict)
    bonds: dict = field(default_factory=dict)
    angles: dict = field(default_factory=dict)
    distances: dict = field(default_factory=dict)
    speedups: dict = field(default_factory=dict)
    force_parity_data: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    noise: dict = field(default_factory=dict)

    @property
    def runs(self) -> list:
        return [self.reference] + list(self.others)

    @property
    def passed(self) -> bool:
        return all(d.passed is not False for ds in self.distances.values() for d in ds)

    def failures(self) -> list[str]:
        return [f"{name}: {d.name} = {d.value:.4g} > {d.tolerance:g}"
                for name, ds in self.distances.items() for d in ds if d.passed is False]

    def to_json(self) -> dict:
        def curves(table):
            return {key: {run.name: c.to_json() for run, c in zip(self.runs, cs)} for key, cs in table.items()}

        return {
            "passed": self.passed,
            "reference": self.reference.name,
            "tolerances": self.tolerances.to_json(),
            "runs": {m.name: m.to_json() for m in self.runs},
            "distances": {name: {d.name: d.to_json() for d in ds} for name, ds in self.distances.items()},
            "speedup": self.speedups,
            "reference_noise": self.noise,
            "structure": {"kind": self.rdf_kind, "r_max_A": self.rdf_r_max, "rdf": curves(self.rdfs),
                          "bond_length_A": curves(self.bonds), "angle_deg": curves(self.angles)},
            "files": {k: str(v) for k, v in self.files.items()},
        }


def _as_run(value, name: str | None, top, log, info, dt_ps, progress: bool) -> RunData:
    if isinstance(value, RunData):
        if name:
            value.name = name
        return value
    if isinstance(value, (str, Path)):
        return load_run(value, name=name, top=top, log=log, info=info, dt_ps=dt_ps, progress=progress)
    return RunData.from_frames(value, name or "run", dt_ps=dt_ps)


def _unique_names(runs: list[RunData]) -> None:
    seen: dict = {}
    for run in runs:
        base = run.name or "run"
        seen[base] = seen.get(base, 0) + 1
        run.name = base if seen[base] == 1 else f"{base}-{seen[base]}"


def compare_trajectories(reference, others, *, names: list[str] | None = None, top=None, logs=None, infos=None,
                         dt_ps=None, tolerances: Tolerances | dict | None = None, out_dir=None,
                         rdf_r_max: float | None = None, rdf_bin_width: float = 0.05,
                         msd_fit_fraction: tuple[float, float] = (0.1, 0.5), vacf_window_ps: float = VACF_WINDOW_PS,
                         vacf_max_lag_ps: float | None = None, force_providers: dict | None = None,
                         report: bool = True, progress: bool = False) -> ComparisonResult:
    """Compare one or more runs with a reference run.

    reference, others : a trajectory path, a :class:`RunData`, or an iterable of
        frames/Systems/ase.Atoms; ``others`` may be one item or a list.
    names : display names, reference first (default: from the file names).
    top : topology file (PDB) for all runs (needed for xtc/dcd; its bonds give
        bond and angle distributions).
    logs, infos : per-run thermo CSV / run metadata paths, reference first
        (default: ``thermo.csv``/``run_info.json`` beside each trajectory).
    dt_ps : frame interval in ps for files whose frames carry no time (one value or one per run).
    tolerances : :class:`Tolerances` or a mapping of overrides.
    out_dir : where the plots, ``report.html``, ``report.md`` and
        ``comparison.json`` go (nothing is written when None or ``report=False``).
    rdf_r_max, rdf_bin_width : RDF range and bin width in Å (default range: half
        the smallest box spacing).
    msd_fit_fraction : MSD lag window fitted for D, as fractions of the run length.
    vacf_window_ps : the time window of the VACF error; vacf_max_lag_ps : the VACF length.
    force_providers : ``{name: force provider}`` evaluated on (up to 50) reference
        frames for force parity; a name that is one of the compared runs gives
        that run its "force" distance, another name gets a row of its own.
    """
    if not isinstance(others, (list, tuple)):
        others = [others]
    if not others:
        raise InputError("compare: give at least one run to compare with the reference")
    n = len(others) + 1
    names = list(names) if names else [None] * n
    if len(names) != n:
        raise InputError(f"compare: {len(names)} names for {n} runs")
    logs = list(logs) if logs else [None] * n
    infos = list(infos) if infos else [None] * n
    dts = list(dt_ps) if isinstance(dt_ps, (list, tuple)) else [dt_ps] * n
    for what, seq in (("logs", logs), ("infos", infos), ("dt_ps", dts)):
        if len(seq) != n:
            raise InputError(f"compare: {len(seq)} {what} for {n} runs (reference first)")
    if not isinstance(tolerances, Tolerances):
        tolerances = Tolerances.from_mapping(tolerances)

    runs = [_as_run(v, nm, top, lg, inf, dt, progress)
            for v, nm, lg, inf, dt in zip([reference, *others], names, logs, infos, dts)]
    _unique_names(runs)
    ref = runs[0]
    for run in runs[1:]:
        if run.n_atoms != ref.n_atoms or np.any(run.numbers != ref.numbers):
            raise InputError(f"compare: {run.name} ({run.source or 'in memory'}) has {run.n_atoms} atoms with "
                             f"different elements from the reference {ref.name} ({ref.n_atoms} atoms)")

    metrics = [_run_metrics(r, msd_fit_fraction, vacf_max_lag_ps) for r in runs]
    rdf_kind, r_max, rdfs = radial_distributions(runs, rdf_r_max, rdf_bin_width)
    bonds, angles = bond_and_angle_distributions(runs)
    result = ComparisonResult(metrics[0], metrics[1:], tolerances, rdf_kind, r_max, rdfs, bonds, angles)
    for k, m in enumerate(metrics[1:], start=1):
        result.distances[m.name] = _distances(result, metrics[0], m, k, vacf_window_ps)
        result.speedups[m.name] = cost_mod.speedup(metrics[0].cost, m.cost)
    for name, provider in (force_providers or {}).items():
        _model_parity(result, ref, name, provider)
    result.noise = _reference_noise(result, rdf_bin_width, msd_fit_fraction)
    if report and out_dir is not None:
        from .report import write_report

        write_report(result, Path(out_dir))
    return result


def _run_metrics(run: RunData, fit_fraction, vacf_max_lag_ps) -> RunMetrics:
    m = RunMetrics(run)
    try:
        m.diffusion = diffusion(run, fit_fraction)
    except InputError as exc:
        m.notes.append(f"no MSD: {exc}")
    try:
        m.vacf = vacf(run, vacf_max_lag_ps)
        if m.vacf.source != "frames":
            m.notes.append("velocities estimated by central finite differences of positions")
    except InputError as exc:
        m.notes.append(f"no VACF: {exc}")
    m.thermo = thermo_series(run)
    m.thermo_summary = summarize(m.thermo)
    m.cost = cost_mod.run_cost(run)
    return m


def _distances(result: ComparisonResult, ref: RunMetrics, other: RunMetrics, k: int, vacf_window_ps: float):
    tol = result.tolerances
    out = []

    def skipped(name, why):
        out.append(Distance(name, None, getattr(tol, name), skipped=why))

    # structure
    per_pair = {pair: rdf_error(curves[0], curves[k]) for pair, curves in result.rdfs.items()}
    if per_pair:
        worst = max(per_pair, key=lambda p: per_pair[p])
        out.append(Distance("rdf", per_pair[worst], tol.rdf, {"per_pair": per_pair, "worst_pair": worst,
                                                              "kind": result.rdf_kind}))
    else:
        skipped("rdf", "no element pair with at least two atoms")
    for name, table in (("bond", result.bonds), ("angle", result.angles)):
        if table:
            per = {key: density_difference(c[0], c[k]) for key, c in table.items()}
            worst = max(per, key=lambda p: per[p])
            out.append(Distance(name, per[worst], getattr(tol, name), {"per_type": per, "worst": worst}))
    # dynamics
    if ref.diffusion is not None and other.diffusion is not None:
        d_r, d_s = ref.diffusion.D, other.diffusion.D
        out.append(Distance("diffusion", relative_error(d_r, d_s, DIFFUSION_FLOOR_A2_PER_PS), tol.diffusion,
                            {"D_reference_A2_per_ps": d_r, "D_other_A2_per_ps": d_s,
                             "floor_A2_per_ps": DIFFUSION_FLOOR_A2_PER_PS}))
    else:
        skipped("diffusion", "MSD unavailable for one of the runs")
    if ref.vacf is not None and other.vacf is not None:
        out.append(Distance("vacf", vacf_error(ref.vacf.vacf, other.vacf.vacf, vacf_window_ps), tol.vacf,
                            {"window_ps": vacf_window_ps, "velocity_source_reference": ref.vacf.source,
                             "velocity_source_other": other.vacf.source}))
    else:
        skipped("vacf", "VACF unavailable for one of the runs")
    # thermodynamics
    t_r = ref.thermo_summary.stats.get("temperature_K")
    t_s = other.thermo_summary.stats.get("temperature_K")
    if t_r and t_s:
        out.append(Distance("temperature", relative_error(t_r["mean"], t_s["mean"]), tol.temperature,
                            {"mean_reference_K": t_r["mean"], "mean_other_K": t_s["mean"]}))
    else:
        skipped("temperature", "no temperature (velocities or log) for one of the runs")
    drift = other.thermo_summary.drift_eV_per_atom_per_ns
    if drift is not None and np.isfinite(drift):
        detail = {"drift_eV_per_atom_per_ns": drift, "reference_drift": ref.thermo_summary.drift_eV_per_atom_per_ns}
        out.append(Distance("drift", abs(drift), tol.drift, detail))
    else:
        skipped("drift", "no conserved energy for this run")
    # forces
    r_run, s_run = ref.run, other.run
    if r_run.forces is not None and s_run.forces is not None and same_frames(r_run.positions, s_run.positions):
        parity = force_parity(r_run.forces, s_run.forces)
        result.force_parity_data[other.name] = (r_run.forces, s_run.forces)
        out.append(Distance("force", parity["relative_rmse"], tol.force, parity))
    else:
        why = ("both runs need forces" if r_run.forces is None or s_run.forces is None
               else "the runs hold different configurations (force parity needs the same frames)")
        skipped("force", why)
    return out


def _model_parity(result: ComparisonResult, ref: RunData, name: str, provider) -> None:
    """Force distance of ``provider`` on the reference frames, filed under ``name``."""
    from .parity import provider_forces_on

    f_ref, f_model = provider_forces_on(ref, provider)
    parity = force_parity(f_ref, f_model)
    parity["n_frames"] = int(len(f_ref))
    parity["on"] = f"{ref.name} frames"
    result.force_parity_data[name] = (f_ref, f_model)
    distance = Distance("force", parity["relative_rmse"], result.tolerances.force, parity)
    rows = result.distances.setdefault(name, [])
    rows[:] = [d for d in rows if d.name != "force"] + [distance]


def _reference_noise(result: ComparisonResult, rdf_bin_width: float, fit_fraction) -> dict:
    """The rdf and diffusion distances between the first and second half of the reference:
    how far two runs of half its length differ by chance (a scale for the tolerances)."""
    ref = result.reference.run
    if ref.n_frames < 20:
        return {}
    half = ref.n_frames // 2
    first, second = ref.frames(slice(0, half)), ref.frames(slice(half, 2 * half))
    noise = {"what": "distance between the first and second half of the reference run"}
    try:
        _, _, curves = radial_distributions([first, second], result.rdf_r_max, rdf_bin_width)
        if curves:
            noise["rdf"] = max(rdf_error(c[0], c[1]) for c in curves.values())
    except InputError:
        pass
    try:
        d1, d2 = diffusion(first, fit_fraction).D, diffusion(second, fit_fraction).D
        noise["diffusion"] = relative_error(d1, d2, DIFFUSION_FLOOR_A2_PER_PS)
    except InputError:
        pass
    return noise
