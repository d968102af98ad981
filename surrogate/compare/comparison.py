"""Comparing runs against a reference: ``compare_trajectories(ref, others) -> ComparisonResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from systems.errors import InputError
from systems.state import degrees_of_freedom

from . import cost as cost_mod
from .connectivity import is_single_molecule, run_bonds
from .distances import (DIFFUSION_FLOOR_A2_PER_PS, VACF_WINDOW_PS, Distance, Tolerances, density_difference,
                        force_parity, relative_error, rdf_error, same_frames, vacf_error)
from .dynamics import Diffusion, VACF, diffusion, vacf
from .run_data import RunData, load_run
from .structure import bond_and_angle_distributions, radial_distributions, rdf, pair_distance_distribution
from .thermo import ThermoSeries, ThermoSummary, summarize, temperature_rule, thermo_series, thermostat_of
from .uncertainty import CURVE_BLOCKS, band, block_slices

#: A block (for error bars and noise bands) needs at least this many frames.
MIN_BLOCK_FRAMES = 10


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
    bands: dict = field(default_factory=dict)
    compared_ps: float | None = None
    length_note: str = ""
    temperature_dof: dict = field(default_factory=dict)
    bond_source: str = ""
    noise_passes: bool = True
    band_source: str = ""

    @property
    def runs(self) -> list:
        return [self.reference] + list(self.others)

    @property
    def passed(self) -> bool:
        return all(d.passed is not False for ds in self.distances.values() for d in ds)

    def failures(self) -> list[str]:
        return [f"{name}: {d.name} = {d.value:.4g} > {d.limit:.4g}"
                + (f" (tolerance {d.tolerance:g}, reference noise {d.noise:.3g})" if d.limit != d.tolerance else "")
                for name, ds in self.distances.items() for d in ds if d.passed is False]

    def to_json(self) -> dict:
        def curves(table):
            return {key: {run.name: c.to_json() for run, c in zip(self.runs, cs)} for key, cs in table.items()}

        def bands(value):
            if isinstance(value, dict):
                return {k: bands(v) for k, v in value.items()}
            return None if value is None else [None if not np.isfinite(x) else float(x) for x in value]

        return {
            "passed": self.passed,
            "reference": self.reference.name,
            "tolerances": self.tolerances.to_json(),
            "compared_ps": self.compared_ps,
            "equal_lengths": self.length_note,
            "temperature_dof": self.temperature_dof,
            "runs": {m.name: m.to_json() for m in self.runs},
            "distances": {name: {d.name: d.to_json() for d in ds} for name, ds in self.distances.items()},
            "force_parity": {name: force_parity(f_ref, f_other)
                             for name, (f_ref, f_other) in self.force_parity_data.items()},
            "speedup": self.speedups,
            "reference_noise": self.noise,
            "noise_passes": self.noise_passes,
            "reference_bands": {"what": f"standard error of the reference curve from {self.band_source}, on the "
                                        "reference curve's grid", **bands(self.bands)},
            "structure": {"kind": self.rdf_kind, "r_max_A": self.rdf_r_max, "rdf": curves(self.rdfs),
                          "bond_length_A": curves(self.bonds), "angle_deg": curves(self.angles),
                          "bonds_from": self.bond_source},
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
                         report: bool = True, progress: bool = False, noise_passes: bool = True,
                         reference_repeats: list | None = None) -> ComparisonResult:
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
    progress : show a tqdm bar of the analysis stages on stderr.
    noise_passes : a distance within the reference's own noise passes (default); False judges
        against the tolerances alone (the noise is still reported).
    reference_repeats : independent runs of the reference system (paths or :class:`RunData`, same
        atoms): the reference noise and bands then come from these repeats instead of blocks of the
        reference (they are cut to the same length as every run).

    Honesty rules: every run is cut to the shortest simulated time among them
    (``result.length_note``); temperatures use one degrees-of-freedom rule for
    all runs (``result.temperature_dof``); bonds come from the topology, else
    from covalent radii of the reference's first frame; diffusion is skipped for
    one molecule without a box; each distance carries the reference's noise
    (its two halves) and passes within max(tolerance, noise); means carry
    block-averaging errors and reference curves a block-error band (``result.bands``).
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

    from tqdm.auto import tqdm

    runs = [_as_run(v, nm, top, lg, inf, dt, progress)
            for v, nm, lg, inf, dt in zip([reference, *others], names, logs, infos, dts)]
    _unique_names(runs)
    ref = runs[0]
    for run in runs[1:]:
        if run.n_atoms != ref.n_atoms or np.any(run.numbers != ref.numbers):
            raise InputError(f"compare: {run.name} ({run.source or 'in memory'}) has {run.n_atoms} atoms with "
                             f"different elements from the reference {ref.name} ({ref.n_atoms} atoms)")
    repeats = [_as_run(v, None if isinstance(v, RunData) else f"{ref.name}-repeat-{k + 1}", top, None, None, dts[0],
                       progress)
               for k, v in enumerate(reference_repeats or [])]
    for rep in repeats:
        if rep.n_atoms != ref.n_atoms or np.any(rep.numbers != ref.numbers):
            raise InputError(f"compare: reference repeat {rep.source or rep.name} has different atoms from the "
                             f"reference {ref.name}")
    stages = tqdm(total=len(runs) + 5 + bool(report and out_dir is not None), desc="compare", unit="step",
                  disable=not progress, leave=False)
    cut, compared_ps, length_notes = equal_lengths(runs + repeats)
    runs, repeats = cut[:len(runs)], cut[len(runs):]
    ref = runs[0]
    com_fixed, dof_reason = temperature_rule(runs)
    bonds, bond_source = run_bonds(ref)
    single_molecule = is_single_molecule(ref, bonds)
    metrics = []
    for run in runs:
        stages.set_postfix_str(f"dynamics and thermo of {run.name}")
        metrics.append(_run_metrics(run, msd_fit_fraction, vacf_max_lag_ps, com_fixed, single_molecule))
        stages.update()
    for m in metrics:
        if m.name in length_notes:
            m.notes.append(length_notes[m.name])
    stages.set_postfix_str("RDFs")
    rdf_kind, r_max, rdfs = radial_distributions(runs, rdf_r_max, rdf_bin_width)
    stages.update()
    stages.set_postfix_str("bonds and angles")
    bond_curves, angles = bond_and_angle_distributions(runs, bonds)
    stages.update()
    result = ComparisonResult(metrics[0], metrics[1:], tolerances, rdf_kind, r_max, rdfs, bond_curves, angles)
    result.compared_ps = compared_ps
    result.noise_passes = noise_passes
    result.length_note = ("; ".join(length_notes.values()) if length_notes
                          else f"every run covers {compared_ps:.4g} ps")
    result.temperature_dof = {"com_fixed": com_fixed, "rule": dof_reason,
                              "degrees_of_freedom": degrees_of_freedom(ref.n_atoms, com_fixed=com_fixed)}
    result.bond_source = bond_source if len(bonds) else ""
    stages.set_postfix_str("reference noise")
    result.noise = _reference_noise(result, rdf_bin_width, msd_fit_fraction, vacf_window_ps, com_fixed, repeats)
    result.bands = _reference_bands(result, bonds, rdf_bin_width, msd_fit_fraction, repeats)
    result.band_source = (f"the reference and its {len(repeats)} repeat(s)" if repeats
                          else f"{CURVE_BLOCKS} blocks of the reference's frames")
    stages.update()
    stages.set_postfix_str("distances")
    for k, m in enumerate(metrics[1:], start=1):
        result.distances[m.name] = _distances(result, metrics[0], m, k, vacf_window_ps, noise_passes)
        result.speedups[m.name] = cost_mod.speedup(metrics[0].cost, m.cost)
    stages.update()
    stages.set_postfix_str("force parity")
    for name, provider in (force_providers or {}).items():
        _model_parity(result, ref, name, provider)
    stages.update()
    if report and out_dir is not None:
        from .report import write_report

        stages.set_postfix_str("report")
        write_report(result, Path(out_dir))
        stages.update()
    stages.close()
    return result


def equal_lengths(runs: list[RunData]) -> tuple[list[RunData], float, dict]:
    """Every run cut to the shortest simulated time among them (from each run's first frame), so that
    no run is judged on more or less sampling than another. Returns the runs, that time in ps, and
    ``{name: note}`` for each run that was cut."""
    durations = [r.duration_ps for r in runs]
    shortest = min(durations)
    out, notes = [], {}
    for run, duration in zip(runs, durations):
        if duration > shortest * (1 + 1e-6) + 1e-12:
            cut = run.window(float(run.times_ps[0]), float(run.times_ps[0]) + shortest)
            notes[run.name] = (f"compared over its first {shortest:.4g} ps ({cut.n_frames} of {run.n_frames} "
                               f"frames; it has {duration:.4g} ps): every run is cut to the shortest")
            run = cut
        out.append(run)
    return out, float(shortest), notes


#: Why diffusion is not judged for one molecule in vacuum.
SINGLE_MOLECULE_NOTE = ("diffusion skipped: a single molecule without a periodic box (one connected molecule) "
                        "has no self-diffusion to compare; its MSD is rotation and vibration about a fixed centre")


def _run_metrics(run: RunData, fit_fraction, vacf_max_lag_ps, com_fixed: bool = True,
                 single_molecule: bool = False) -> RunMetrics:
    m = RunMetrics(run)
    if single_molecule:
        m.notes.append(SINGLE_MOLECULE_NOTE)
    else:
        try:
            m.diffusion = diffusion(run, fit_fraction)
            m.diffusion.error = _block_error([diffusion(b, fit_fraction).D for b in _blocks(run)])
        except InputError as exc:
            m.notes.append(f"no MSD: {exc}")
    try:
        m.vacf = vacf(run, vacf_max_lag_ps)
        if m.vacf.source != "frames":
            m.notes.append("velocities estimated by central finite differences of positions")
    except InputError as exc:
        m.notes.append(f"no VACF: {exc}")
    m.thermo = thermo_series(run, com_fixed)
    m.thermo_summary = summarize(m.thermo)
    m.cost = cost_mod.run_cost(run)
    return m


def _blocks(run: RunData, n_blocks: int = CURVE_BLOCKS) -> list[RunData]:
    """Consecutive blocks of a run's frames (none when a block would have under MIN_BLOCK_FRAMES frames)."""
    if run.n_frames < n_blocks * MIN_BLOCK_FRAMES:
        return []
    return [run.frames(s) for s in block_slices(run.n_frames, n_blocks)]


def _block_error(values: list) -> float | None:
    """Standard error of a full-run quantity from its values on blocks: std (ddof=1) / √blocks."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 2 or not np.all(np.isfinite(values)):
        return None
    return float(values.std(ddof=1) / np.sqrt(len(values)))


def _distances(result: ComparisonResult, ref: RunMetrics, other: RunMetrics, k: int, vacf_window_ps: float,
               noise_passes: bool = True):
    tol = result.tolerances
    noise = result.noise if noise_passes else {}
    out = []

    def skipped(name, why):
        out.append(Distance(name, None, getattr(tol, name), skipped=why))

    # structure
    per_pair = {pair: rdf_error(curves[0], curves[k]) for pair, curves in result.rdfs.items()}
    if per_pair:
        worst = max(per_pair, key=lambda p: per_pair[p])
        out.append(Distance("rdf", per_pair[worst], tol.rdf, {"per_pair": per_pair, "worst_pair": worst,
                                                              "kind": result.rdf_kind}, noise=noise.get("rdf")))
    else:
        skipped("rdf", "no element pair with at least two atoms")
    for name, table in (("bond", result.bonds), ("angle", result.angles)):
        if table:
            per = {key: density_difference(c[0], c[k]) for key, c in table.items()}
            worst = max(per, key=lambda p: per[p])
            out.append(Distance(name, per[worst], getattr(tol, name),
                                {"per_type": per, "worst": worst, "bonds_from": result.bond_source},
                                noise=noise.get(name)))
    # dynamics
    if ref.diffusion is not None and other.diffusion is not None:
        d_r, d_s = ref.diffusion, other.diffusion
        out.append(Distance("diffusion", relative_error(d_r.D, d_s.D, DIFFUSION_FLOOR_A2_PER_PS), tol.diffusion,
                            {"D_reference_A2_per_ps": d_r.D, "D_reference_error_A2_per_ps": d_r.error,
                             "D_other_A2_per_ps": d_s.D, "D_other_error_A2_per_ps": d_s.error,
                             "floor_A2_per_ps": DIFFUSION_FLOOR_A2_PER_PS}, noise=noise.get("diffusion")))
    elif any(SINGLE_MOLECULE_NOTE in m.notes for m in (ref, other)):
        skipped("diffusion", "a single molecule without a periodic box")
    else:
        skipped("diffusion", "MSD unavailable for one of the runs")
    if ref.vacf is not None and other.vacf is not None:
        out.append(Distance("vacf", vacf_error(ref.vacf.vacf, other.vacf.vacf, vacf_window_ps), tol.vacf,
                            {"window_ps": vacf_window_ps, "velocity_source_reference": ref.vacf.source,
                             "velocity_source_other": other.vacf.source}, noise=noise.get("vacf")))
    else:
        skipped("vacf", "VACF unavailable for one of the runs")
    # thermodynamics
    t_r = ref.thermo_summary.stats.get("temperature_K")
    t_s = other.thermo_summary.stats.get("temperature_K")
    if t_r and t_s:
        out.append(Distance("temperature", relative_error(t_r["mean"], t_s["mean"]), tol.temperature,
                            {"mean_reference_K": t_r["mean"], "error_reference_K": t_r["error"],
                             "mean_other_K": t_s["mean"], "error_other_K": t_s["error"],
                             "degrees_of_freedom": result.temperature_dof}, noise=noise.get("temperature")))
    else:
        skipped("temperature", "no temperature (velocities or log) for one of the runs")
    drift = other.thermo_summary.drift_eV_per_atom_per_ns
    thermostat = thermostat_of(other.run)
    if thermostat is not None:
        skipped("drift", f"thermostatted run ({thermostat}, from its run info): no conserved energy to judge")
    elif drift is not None and np.isfinite(drift):
        detail = {"drift_meV_per_atom_per_ps": drift,
                  "error_meV_per_atom_per_ps": other.thermo_summary.drift_error_eV_per_atom_per_ns,
                  "reference_drift_meV_per_atom_per_ps": ref.thermo_summary.drift_eV_per_atom_per_ns,
                  "units": "meV/atom/ps (= eV/atom/ns)"}
        out.append(Distance("drift", abs(drift), tol.drift, detail, noise=noise.get("drift")))
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


def _reference_noise(result: ComparisonResult, rdf_bin_width: float, fit_fraction, vacf_window_ps: float,
                     com_fixed: bool, repeats: list | None = None) -> dict:
    """How far two runs of the reference system differ by chance, per distance. With ``repeats``
    (independent reference runs of equal length), the largest distance between the reference and a
    repeat; otherwise the distance between the first and second half of the reference. A distance
    within it passes (see :class:`Distance`). The drift's noise is the reference's own |drift| plus
    twice its block error (absent for a thermostatted reference)."""
    ref_metrics = result.reference
    ref = ref_metrics.run
    summary = ref_metrics.thermo_summary
    drift_noise = None
    if thermostat_of(ref) is None and summary.drift_eV_per_atom_per_ns is not None \
            and np.isfinite(summary.drift_eV_per_atom_per_ns):
        error = summary.drift_error_eV_per_atom_per_ns
        drift_noise = abs(summary.drift_eV_per_atom_per_ns) + (2 * error if error and np.isfinite(error) else 0)
    if repeats:
        noise = {"what": f"largest distance between the reference and its {len(repeats)} independent repeat(s)"}
        for rep in repeats:
            for key, value in _pair_distances(result, ref, rep, rdf_bin_width, fit_fraction, vacf_window_ps,
                                              com_fixed).items():
                noise[key] = max(noise.get(key, 0.0), value)
    else:
        noise = {"what": "distance between the first and second half of the reference run"}
        if ref.n_frames >= 20:
            t0, t1 = float(ref.times_ps[0]), float(ref.times_ps[-1])
            half = ref.n_frames // 2
            first = ref.window(t0, float(ref.times_ps[half - 1]))
            second = ref.window(float(ref.times_ps[half]), t1)
            noise.update(_pair_distances(result, first, second, rdf_bin_width, fit_fraction, vacf_window_ps,
                                         com_fixed))
    if drift_noise is not None:
        noise["drift"] = drift_noise
    return noise


def _pair_distances(result: ComparisonResult, a: RunData, b: RunData, rdf_bin_width: float, fit_fraction,
                    vacf_window_ps: float, com_fixed: bool) -> dict:
    """The rdf, bond, angle, diffusion, vacf and temperature distances between two runs of the reference
    system, for those the comparison judges."""
    ref_metrics = result.reference
    out = {}
    try:
        _, _, curves = radial_distributions([a, b], result.rdf_r_max, rdf_bin_width)
        if curves:
            out["rdf"] = max(rdf_error(c[0], c[1]) for c in curves.values())
    except InputError:
        pass
    if result.bonds or result.angles:
        bonds, angles = bond_and_angle_distributions([a, b], run_bonds(ref_metrics.run)[0],
                                                     grids={k: c[0].x for k, c in result.bonds.items()})
        for name, table in (("bond", bonds), ("angle", angles)):
            if table:
                out[name] = max(density_difference(c[0], c[1]) for c in table.values())
    if ref_metrics.diffusion is not None:
        try:
            out["diffusion"] = relative_error(diffusion(a, fit_fraction).D, diffusion(b, fit_fraction).D,
                                              DIFFUSION_FLOOR_A2_PER_PS)
        except InputError:
            pass
    if ref_metrics.vacf is not None:
        try:
            out["vacf"] = vacf_error(vacf(a).vacf, vacf(b).vacf, vacf_window_ps)
        except InputError:
            pass
    temps = [summarize(thermo_series(part, com_fixed)).stats.get("temperature_K") for part in (a, b)]
    if all(temps):
        out["temperature"] = relative_error(temps[0]["mean"], temps[1]["mean"])
    return out


def _reference_bands(result: ComparisonResult, bonds: np.ndarray, rdf_bin_width: float, fit_fraction,
                     repeats: list | None = None) -> dict:
    """Standard error of each reference curve: from the reference and its independent ``repeats`` when
    given, else from CURVE_BLOCKS blocks of its frames. ``{"rdf": {pair: [m]}, "bond": {...},
    "angle": {...}, "msd": [m], "vacf": [m], "vdos": [m]}`` on the reference curves' grids."""
    ref_metrics = result.reference
    blocks = [ref_metrics.run, *repeats] if repeats else _blocks(ref_metrics.run)
    if not blocks:
        return {}
    out = {}
    fn = rdf if result.rdf_kind == "rdf" else pair_distance_distribution
    rdf_bands = {}
    for pair, curves in result.rdfs.items():
        za, zb = (_number(sym) for sym in pair.split("-"))
        rdf_bands[pair] = band(curves[0].x, [fn(b, za, zb, result.rdf_r_max, rdf_bin_width) for b in blocks])
    out["rdf"] = rdf_bands
    if result.bonds or result.angles:
        b_curves, a_curves = bond_and_angle_distributions(blocks, bonds,
                                                          grids={k: c[0].x for k, c in result.bonds.items()})
        out["bond"] = {k: band(result.bonds[k][0].x, list(b_curves[k])) for k in result.bonds}
        out["angle"] = {k: band(result.angles[k][0].x, list(a_curves[k])) for k in result.angles}
    if ref_metrics.diffusion is not None:
        try:
            out["msd"] = band(ref_metrics.diffusion.msd.x, [diffusion(b, fit_fraction).msd for b in blocks])
        except InputError:
            pass
    if ref_metrics.vacf is not None:
        try:
            parts = [vacf(b, float(ref_metrics.vacf.vacf.x[-1])) for b in blocks]
            out["vacf"] = band(ref_metrics.vacf.vacf.x, [p.vacf for p in parts])
            out["vdos"] = band(ref_metrics.vacf.spectrum.x, [p.spectrum for p in parts])
        except InputError:
            pass
    return out


def _number(symbol: str) -> int:
    from ase.data import atomic_numbers

    return int(atomic_numbers.get(symbol, 0))
