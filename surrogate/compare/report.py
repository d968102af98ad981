"""Writing a comparison: PNG plots (matplotlib, Agg), a self-contained HTML report
(images embedded as base64), a Markdown report beside the PNGs, and
``comparison.json`` with every number."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np

from systems.atomic_file import atomic_write, atomic_write_text

from .dynamics import CM1_PER_THZ

_BAND = ("; shaded: the reference ± its standard error (its own noise: from its repeats when given, else from "
         "4 blocks of its frames)")
#: Plot files, in report order, with their captions.
CAPTIONS = {
    "rdf": "Radial distribution functions per element pair" + _BAND,
    "bonds": "Bond-length distributions per bond type" + _BAND,
    "angles": "Bond-angle distributions per angle type" + _BAND,
    "msd": "Mean-squared displacement with the fitted diffusion line (dashed)" + _BAND,
    "vacf": "Normalised velocity autocorrelation function" + _BAND,
    "vdos": "Spectrum of the VACF (vibrational density of states)" + _BAND,
    "thermo_distributions": "Distributions of potential energy, kinetic energy and temperature" + _BAND,
    "energy_timeseries": "Conserved energy per atom relative to its first value; shaded: the reference's "
                         "fluctuation about its drift line",
    "force_parity": "Force parity on the same configurations (MAE and RMSE in the legend)",
    "cost": "Cost: simulated nanoseconds per day",
}
_MAX_PANELS = 6


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    # layouts are constrained: no second "tight" draw
    atomic_write(path, lambda handle: fig.savefig(handle, dpi=100, format="png"))
    _plt().close(fig)
    return path


def _panel_grid(n: int):
    plt = _plt()
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _draw_band(ax, x, y, se, label: str = "reference noise (±1 s.e.)", step: str | None = None) -> None:
    """Shade y ± se (the reference's own noise) where the error is known (``step="mid"`` for histograms)."""
    if se is None:
        return
    se = np.asarray(se, dtype=np.float64)
    ok = np.isfinite(se)
    if ok.any():
        ax.fill_between(np.asarray(x)[ok], (y - se)[ok], (y + se)[ok], color="0.5", alpha=0.3, lw=0, label=label,
                        step=step)


def _curve_panels(table: dict, runs, xlabel: str, ylabel: str, path: Path, reference_line: float | None = None,
                  bands: dict | None = None):
    keys = list(table)[:_MAX_PANELS]
    fig, axes = _panel_grid(len(keys))
    for ax, key in zip(axes, keys):
        ref_curve = table[key][0]
        _draw_band(ax, ref_curve.x, ref_curve.y, (bands or {}).get(key))
        for k, (metrics, curve) in enumerate(zip(runs, table[key])):
            ax.plot(curve.x, curve.y, label=metrics.name, lw=1.6 if k == 0 else 1.2, ls="-" if k == 0 else "--")
        if reference_line is not None:
            ax.axhline(reference_line, color="0.6", lw=0.7)
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    return _save(fig, path)


def make_plots(result, out_dir: Path) -> dict:
    """Write every plot the data allows; returns ``{name: path}`` in report order."""
    plt = _plt()
    runs = result.runs
    bands = result.bands or {}
    out = {}
    if result.rdfs:
        ylabel = "g(r)" if result.rdf_kind == "rdf" else "p(r) (1/Å)"
        out["rdf"] = _curve_panels(result.rdfs, runs, "r (Å)", ylabel, out_dir / "rdf.png",
                                   1.0 if result.rdf_kind == "rdf" else None, bands.get("rdf"))
    if result.bonds:
        out["bonds"] = _curve_panels(result.bonds, runs, "bond length (Å)", "density (1/Å)", out_dir / "bonds.png",
                                     bands=bands.get("bond"))
    if result.angles:
        out["angles"] = _curve_panels(result.angles, runs, "angle (degrees)", "density (1/degree)",
                                      out_dir / "angles.png", bands=bands.get("angle"))
    if any(m.diffusion is not None for m in runs):
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        if result.reference.diffusion is not None:
            msd = result.reference.diffusion.msd
            _draw_band(ax, msd.x, msd.y, bands.get("msd"))
        for m in runs:
            if m.diffusion is None:
                continue
            d = m.diffusion
            error = f" ± {d.error:.2g}" if d.error is not None else ""
            (line,) = ax.plot(d.msd.x, d.msd.y, label=f"{m.name}: D = {d.D:.4g}{error} Å²/ps")
            t = np.array([d.fit_start_ps, d.fit_end_ps])
            ax.plot(t, 6 * d.D * t + d.intercept, ls="--", color=line.get_color(), lw=1)
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel("MSD (Å²)")
        ax.legend(fontsize=8)
        out["msd"] = _save(fig, out_dir / "msd.png")
    if any(m.vacf is not None for m in runs):
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        if result.reference.vacf is not None:
            ref_vacf = result.reference.vacf.vacf
            _draw_band(ax, ref_vacf.x, ref_vacf.y, bands.get("vacf"))
        for m in runs:
            if m.vacf is not None:
                ax.plot(m.vacf.vacf.x, m.vacf.vacf.y, label=f"{m.name} ({m.vacf.source})")
        ax.axhline(0.0, color="0.6", lw=0.7)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("C(t) / C(0)")
        ax.legend(fontsize=8)
        out["vacf"] = _save(fig, out_dir / "vacf.png")
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        f_max = 0.0
        if result.reference.vacf is not None:
            spectrum = result.reference.vacf.spectrum
            _draw_band(ax, spectrum.x, spectrum.y, bands.get("vdos"))
        for m in runs:
            if m.vacf is None:
                continue
            s = m.vacf.spectrum
            ax.plot(s.x, s.y, label=m.name)
            weight = np.cumsum(np.abs(s.y))
            if weight[-1] > 0:
                f_max = max(f_max, float(s.x[np.searchsorted(weight, 0.995 * weight[-1])]))
        if f_max > 0:
            ax.set_xlim(0.0, f_max)
        ax.set_xlabel("frequency (THz)")
        ax.set_ylabel("spectrum (ps)")
        sec = ax.secondary_xaxis("top", functions=(lambda f: f * CM1_PER_THZ, lambda k: k / CM1_PER_THZ))
        sec.set_xlabel("wavenumber (cm⁻¹)")
        ax.legend(fontsize=8)
        out["vdos"] = _save(fig, out_dir / "vdos.png")
    quantities = [("epot_per_atom_eV", "potential energy per atom (eV)"),
                  ("ekin_per_atom_eV", "kinetic energy per atom (eV)"), ("temperature_K", "temperature (K)")]
    present = [(q, lab) for q, lab in quantities if any(q in m.thermo.quantities() for m in runs)]
    if present:
        fig, axes = _panel_grid(len(present))
        for ax, (q, lab) in zip(axes, present):
            series = {m.name: m.thermo.quantities().get(q) for m in runs}
            series = {k: v[np.isfinite(v)] for k, v in series.items() if v is not None and np.isfinite(v).any()}
            lo = min(v.min() for v in series.values())
            hi = max(v.max() for v in series.values())
            edges = np.linspace(lo, hi if hi > lo else lo + 1e-12, 41)  # shared bins: comparable heights
            ref_values = series.get(result.reference.name)
            if ref_values is not None:
                centres = 0.5 * (edges[1:] + edges[:-1])
                hist, se = histogram_band(ref_values, edges)
                _draw_band(ax, centres, hist, se, step="mid")
            for name, values in series.items():
                ax.hist(values, bins=edges, density=True, histtype="step", lw=1.4, label=name)
            ax.set_xlabel(lab)
            ax.set_ylabel("probability density")
            ax.legend(fontsize=8)
            out["thermo_distributions"] = _save(fig, out_dir / "thermo_distributions.png")
    if any(m.thermo.conserved_eV is not None for m in runs):
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        for k, m in enumerate(runs):
            th = m.thermo
            if th.conserved_eV is None:
                continue
            drift = m.thermo_summary.drift_eV_per_atom_per_ns
            error = m.thermo_summary.drift_error_eV_per_atom_per_ns
            error = f" ± {error:.2g}" if error is not None and np.isfinite(error) else ""
            label = m.name if drift is None else f"{m.name}: drift {drift:.3g}{error} meV/atom/ps"
            relative = (th.conserved_eV - th.conserved_eV[0]) / th.n_atoms
            if k == 0:  # the reference's own fluctuation about its drift line: its noise
                ok = np.isfinite(relative) & np.isfinite(th.time_ps)
                if ok.sum() >= 3:
                    fit = np.polyval(np.polyfit(th.time_ps[ok], relative[ok], 1), th.time_ps)
                    spread = float(np.std(relative[ok] - fit[ok]))
                    _draw_band(ax, th.time_ps, fit, np.full(len(fit), spread),
                               label="reference fluctuation (±1 std)")
            ax.plot(th.time_ps, relative, label=label)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("E(t) − E(0) per atom (eV)")
        ax.legend(fontsize=8)
        out["energy_timeseries"] = _save(fig, out_dir / "energy_timeseries.png")
    if result.force_parity_data:
        fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
        lo, hi = np.inf, -np.inf
        for name, (f_ref, f_other) in result.force_parity_data.items():
            ax.scatter(f_ref.ravel(), f_other.ravel(), s=2, alpha=0.4, label=parity_label(name, f_ref, f_other))
            lo, hi = min(lo, f_ref.min(), f_other.min()), max(hi, f_ref.max(), f_other.max())
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="y = x")
        ax.set_xlabel(f"{result.reference.name} force component (eV/Å)")
        ax.set_ylabel("other force component (eV/Å)")
        ax.legend(fontsize=8)
        out["force_parity"] = _save(fig, out_dir / "force_parity.png")
    costs = [(m.name, m.cost.ns_per_day) for m in runs if m.cost is not None and np.isfinite(m.cost.ns_per_day)]
    if costs:
        fig, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
        names, values = zip(*costs)
        ax.bar(names, values, color=[f"C{k}" for k in range(len(names))], label="ns/day")
        ax.set_yscale("log")
        ax.set_xlabel("run")
        ax.set_ylabel("simulated ns per day")
        ax.legend(fontsize=8)
        out["cost"] = _save(fig, out_dir / "cost.png")
    return out


def histogram_band(values: np.ndarray, edges: np.ndarray, n_blocks: int = 4):
    """Density histogram of ``values`` on ``edges`` and its standard error per bin from ``n_blocks``
    consecutive blocks of the series (None when a block would hold under 10 values)."""
    hist, _ = np.histogram(values, bins=edges, density=True)
    from .uncertainty import block_slices

    if len(values) < 10 * n_blocks:
        return hist, None
    parts = np.array([np.histogram(values[s], bins=edges, density=True)[0] for s in block_slices(len(values), n_blocks)])
    return hist, parts.std(axis=0, ddof=1) / np.sqrt(n_blocks)


def parity_label(name: str, f_ref: np.ndarray, f_other: np.ndarray) -> str:
    """Legend text of a parity plot: ``"egnn: MAE 0.0123 eV/Å, RMSE 0.0171 eV/Å"`` (over force components)."""
    diff = np.asarray(f_other, dtype=np.float64) - np.asarray(f_ref, dtype=np.float64)
    return (f"{name}: MAE {float(np.mean(np.abs(diff))):.4g} eV/Å, "
            f"RMSE {float(np.sqrt(np.mean(diff ** 2))):.4g} eV/Å")


# ------------------------------------------------------------------ tables
def _fmt(value, spec: str = ".4g") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.floating)):
        return "nan" if not np.isfinite(value) else format(value, spec)
    return str(value)


def _status(d) -> str:
    if d.skipped:
        return f"skipped: {d.skipped}"
    return {True: "PASS", False: "FAIL", None: "not judged"}[d.passed]


def distance_rows(result) -> list[list[str]]:
    rows = []
    for name, ds in result.distances.items():
        for d in ds:
            rows.append([name, d.name, _fmt(d.value), _fmt(d.tolerance), _fmt(d.noise, ".3g"), _status(d)])
    return rows


def run_rows(result) -> list[list[str]]:
    rows = []
    for m in result.runs:
        stats = m.thermo_summary.stats if m.thermo_summary else {}
        t = stats.get("temperature_K", {}).get("mean")
        e = stats.get("epot_per_atom_eV", {}).get("mean")
        t_err = stats.get("temperature_K", {}).get("error")
        e_err = stats.get("epot_per_atom_eV", {}).get("error")
        summary = m.thermo_summary
        rows.append([
            m.name, str(m.run.n_atoms), str(m.run.n_frames), _fmt(m.run.frame_interval_ps),
            _pm(m.diffusion.D if m.diffusion else None, m.diffusion.error if m.diffusion else None),
            _pm(t, t_err), _pm(e, e_err),
            _pm(summary.drift_eV_per_atom_per_ns if summary else None,
                summary.drift_error_eV_per_atom_per_ns if summary else None),
            _fmt(m.cost.wall_s_per_ns if m.cost else None), _fmt(m.cost.ns_per_day if m.cost else None),
            _fmt(result.speedups.get(m.name)) if m is not result.reference else "1",
        ])
    return rows


RUN_HEADER = ["run", "atoms", "frames", "frame interval (ps)", "D (Å²/ps)", "⟨T⟩ (K)", "⟨Epot⟩/atom (eV)",
              "drift (meV/atom/ps)", "wall s per ns", "ns/day", "speedup"]


def _pm(value, error) -> str:
    """``value ± error`` (block-averaging standard error), or just the value when the error is unknown."""
    if value is None or error is None or not np.isfinite(error):
        return _fmt(value)
    return f"{_fmt(value)} ± {_fmt(error, '.2g')}"


def method_lines(result) -> list[str]:
    """What was compared and how: equal lengths, the temperature rule, where bonds came from, error bars."""
    lines = []
    if result.compared_ps is not None:
        lines.append(f"Equal lengths: every run is compared over {result.compared_ps:.4g} ps of simulated time "
                     f"({result.length_note}).")
    dof = result.temperature_dof
    if dof:
        lines.append(f"Temperature: T = 2 E_kin / (N_f k_B) with N_f = {dof['degrees_of_freedom']} for every run "
                     f"(com_fixed = {dof['com_fixed']}: {dof['rule']}).")
    if result.bond_source:
        lines.append(f"Bonds and angles: connectivity from {result.bond_source}.")
    rule = ("a distance passes when it is within max(tolerance, reference noise)" if result.noise_passes
            else "a distance passes only within its tolerance (--no-noise: the reference noise is not counted)")
    lines.append(f"Error bars (±) are block-averaging standard errors; {rule}.")
    return lines
DIST_HEADER = ["run", "distance", "value", "tolerance", "reference noise", "status"]


def command_rows(result) -> list[list[str]]:
    """Each run's file and the command that made it (from its run_info.json), for reproducibility."""
    return [[m.name, m.run.source or "in memory", str(m.run.info.get("command") or "–")] for m in result.runs]


def noise_text(result) -> str:
    noise = result.noise or {}
    parts = [f"{k} {noise[k]:.3g}" for k in ("rdf", "bond", "angle", "diffusion", "vacf", "temperature")
             if k in noise]
    if not parts:
        return ""
    return ("Chance level: the first and second half of the reference differ by " + ", ".join(parts)
            + "; distances within these values are noise, not error"
            + (", and pass." if result.noise_passes else "."))


def _noise_html(result) -> str:
    text = noise_text(result)
    return f"<p>{html.escape(text)}</p>" if text else ""


def _methods_html(result) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in method_lines(result)) + "</ul>"


def _html_table(header, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="{_cls(c)}">{html.escape(c)}</td>' for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cls(cell: str) -> str:
    return {"PASS": "pass", "FAIL": "fail"}.get(cell, "")


def write_html(result, plots: dict, path: Path) -> Path:
    verdict = "PASS: every judged distance is within tolerance" if result.passed else \
        "FAIL: " + "; ".join(result.failures())
    notes = "".join(f"<li>{html.escape(m.name)}: {html.escape(n)}</li>" for m in result.runs for n in m.notes)
    figures = []
    for name, png in plots.items():
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        figures.append(f'<figure id="{name}"><img alt="{html.escape(CAPTIONS.get(name, name))}" '
                       f'src="data:image/png;base64,{data}"><figcaption>{html.escape(CAPTIONS.get(name, name))}'
                       "</figcaption></figure>")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>surrogate compare: {html.escape(result.reference.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child, td:nth-child(2) {{ text-align: left; }}
.pass {{ color: #176b2c; font-weight: bold; }} .fail {{ color: #b00020; font-weight: bold; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>Comparison against <code>{html.escape(result.reference.name)}</code></h1>
<p class="{'pass' if result.passed else 'fail'}">{html.escape(verdict)}</p>
<h2>Distances to the reference</h2>
{_html_table(DIST_HEADER, distance_rows(result))}
{_noise_html(result)}
{_methods_html(result)}
<h2>Runs</h2>
{_html_table(RUN_HEADER, run_rows(result))}
{_html_table(["run", "source", "command"], command_rows(result))}
{'<h3>Notes</h3><ul>' + notes + '</ul>' if notes else ''}
<h2>Plots</h2>
{''.join(figures)}
<p>All numbers: <code>comparison.json</code>. Distances and default tolerances are documented in
<code>surrogate.compare.distances</code>.</p>
</body></html>
"""
    return _atomic_write(path, doc)


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(result, plots: dict, path: Path) -> Path:
    verdict = "**PASS**" if result.passed else "**FAIL**: " + "; ".join(result.failures())
    parts = [f"# Comparison against `{result.reference.name}`", "", verdict, "", "## Distances to the reference", "",
             _md_table(DIST_HEADER, distance_rows(result)), "", noise_text(result), "",
             *[f"- {line}" for line in method_lines(result)], "", "## Runs", "",
             _md_table(RUN_HEADER, run_rows(result)), "", _md_table(["run", "source", "command"], command_rows(result)),
             "", "## Plots", ""]
    for name, png in plots.items():
        parts += [f"![{CAPTIONS.get(name, name)}]({Path(png).name})", "", f"*{CAPTIONS.get(name, name)}*", ""]
    return _atomic_write(path, "\n".join(parts))


def _atomic_write(path: Path, text: str) -> Path:
    return atomic_write_text(path, text)


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_report(result, out_dir: Path) -> dict:
    """Write plots, ``report.html``, ``report.md`` and ``comparison.json`` into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = make_plots(result, out_dir)
    result.files.update(plots)
    result.files["html"] = out_dir / "report.html"
    result.files["markdown"] = out_dir / "report.md"
    result.files["json"] = out_dir / "comparison.json"
    write_html(result, plots, result.files["html"])
    write_markdown(result, plots, result.files["markdown"])
    payload = json.dumps(result.to_json(), indent=1, default=_jsonable, allow_nan=True)
    _atomic_write(result.files["json"], payload + "\n")
    return result.files
