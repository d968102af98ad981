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

#: Plot files, in report order, with their captions.
CAPTIONS = {
    "rdf": "Radial distribution functions per element pair",
    "bonds": "Bond-length distributions per bond type",
    "angles": "Bond-angle distributions per angle type",
    "msd": "Mean-squared displacement with the fitted diffusion line (dashed)",
    "vacf": "Normalised velocity autocorrelation function",
    "vdos": "Spectrum of the VACF (vibrational density of states)",
    "thermo_distributions": "Distributions of potential energy, kinetic energy and temperature",
    "energy_timeseries": "Conserved energy per atom relative to its first value",
    "force_parity": "Force parity on the same configurations",
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


def _curve_panels(table: dict, runs, xlabel: str, ylabel: str, path: Path, reference_line: float | None = None):
    keys = list(table)[:_MAX_PANELS]
    fig, axes = _panel_grid(len(keys))
    for ax, key in zip(axes, keys):
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
    out = {}
    if result.rdfs:
        ylabel = "g(r)" if result.rdf_kind == "rdf" else "p(r) (1/Å)"
        out["rdf"] = _curve_panels(result.rdfs, runs, "r (Å)", ylabel, out_dir / "rdf.png",
                                   1.0 if result.rdf_kind == "rdf" else None)
    if result.bonds:
        out["bonds"] = _curve_panels(result.bonds, runs, "bond length (Å)", "density (1/Å)", out_dir / "bonds.png")
    if result.angles:
        out["angles"] = _curve_panels(result.angles, runs, "angle (degrees)", "density (1/degree)",
                                      out_dir / "angles.png")
    if any(m.diffusion is not None for m in runs):
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        for m in runs:
            if m.diffusion is None:
                continue
            d = m.diffusion
            (line,) = ax.plot(d.msd.x, d.msd.y, label=f"{m.name}: D = {d.D:.4g} Å²/ps")
            t = np.array([d.fit_start_ps, d.fit_end_ps])
            ax.plot(t, 6 * d.D * t + d.intercept, ls="--", color=line.get_color(), lw=1)
        ax.set_xlabel("lag time (ps)")
        ax.set_ylabel("MSD (Å²)")
        ax.legend(fontsize=8)
        out["msd"] = _save(fig, out_dir / "msd.png")
    if any(m.vacf is not None for m in runs):
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
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
            for name, values in series.items():
                ax.hist(values, bins=edges, density=True, histtype="step", lw=1.4, label=name)
            ax.set_xlabel(lab)
            ax.set_ylabel("probability density")
            ax.legend(fontsize=8)
            out["thermo_distributions"] = _save(fig, out_dir / "thermo_distributions.png")
    if any(m.thermo.conserved_eV is not None for m in runs):
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        for m in runs:
            th = m.thermo
            if th.conserved_eV is None:
                continue
            drift = m.thermo_summary.drift_eV_per_atom_per_ns
            label = m.name if drift is None else f"{m.name}: drift {drift:.3g} eV/atom/ns"
            ax.plot(th.time_ps, (th.conserved_eV - th.conserved_eV[0]) / th.n_atoms, label=label)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel("E(t) − E(0) per atom (eV)")
        ax.legend(fontsize=8)
        out["energy_timeseries"] = _save(fig, out_dir / "energy_timeseries.png")
    if result.force_parity_data:
        fig, ax = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
        lo, hi = np.inf, -np.inf
        for name, (f_ref, f_other) in result.force_parity_data.items():
            ax.scatter(f_ref.ravel(), f_other.ravel(), s=2, alpha=0.4, label=name)
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
            rows.append([name, d.name, _fmt(d.value), _fmt(d.tolerance), _status(d)])
    return rows


def run_rows(result) -> list[list[str]]:
    rows = []
    for m in result.runs:
        stats = m.thermo_summary.stats if m.thermo_summary else {}
        t = stats.get("temperature_K", {}).get("mean")
        e = stats.get("epot_per_atom_eV", {}).get("mean")
        rows.append([
            m.name, str(m.run.n_atoms), str(m.run.n_frames), _fmt(m.run.frame_interval_ps),
            _fmt(m.diffusion.D if m.diffusion else None), _fmt(t), _fmt(e),
            _fmt(m.thermo_summary.drift_eV_per_atom_per_ns if m.thermo_summary else None),
            _fmt(m.cost.wall_s_per_ns if m.cost else None), _fmt(m.cost.ns_per_day if m.cost else None),
            _fmt(result.speedups.get(m.name)) if m is not result.reference else "1",
        ])
    return rows


RUN_HEADER = ["run", "atoms", "frames", "frame interval (ps)", "D (Å²/ps)", "⟨T⟩ (K)", "⟨Epot⟩/atom (eV)",
              "drift (eV/atom/ns)", "wall s per ns", "ns/day", "speedup"]
DIST_HEADER = ["run", "distance", "value", "tolerance", "status"]


def command_rows(result) -> list[list[str]]:
    """Each run's file and the command that made it (from its run_info.json), for reproducibility."""
    return [[m.name, m.run.source or "in memory", str(m.run.info.get("command") or "–")] for m in result.runs]


def noise_text(result) -> str:
    noise = result.noise or {}
    parts = [f"{k} {noise[k]:.3g}" for k in ("rdf", "diffusion") if k in noise]
    if not parts:
        return ""
    return ("Chance level: the first and second half of the reference differ by " + ", ".join(parts)
            + "; distances near these values are noise, not error.")


def _noise_html(result) -> str:
    text = noise_text(result)
    return f"<p>{html.escape(text)}</p>" if text else ""


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
             _md_table(DIST_HEADER, distance_rows(result)), "", noise_text(result), "", "## Runs", "",
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
