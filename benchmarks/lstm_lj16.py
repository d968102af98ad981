"""Issue #13 part 4: LJ16 in the paper's box, closed loop with the energy correction, to t = 10⁴.

The system is :mod:`systems.lj16_paper` (L = 6.795σ, ρ ≈ 0.051, ε = 2 eV, r_c = 2.5σ cut and shifted,
m = 1 amu, the authors' 16 lattice sites at rest; Δ = 0.001τ, Δ_R = 1000Δ = 1τ). Two operators, each
trained here (time-capped, seeded; cached as ``lj16paper_flat.pt`` and ``lj16paper_manybody.pt`` in
``--models``, default runs/lstm_models or runs/lstm_models_quick) on Verlet trajectories from displaced
lattice starts (the evaluation start, the exact lattice, is not among them):

(a) ``flat``: the paper-style :class:`~surrogate.lstm.LSTMOperator` over all 16 particles' states
    (:func:`~surrogate.lstm.train_lstm`), run by :class:`~surrogate.lstm.LSTMOperatorIntegrator`;
(b) ``manybody``: the many-body operator (per-atom LSTM + EGNN, reads the window's forces: one force
    call per stride), run by :class:`~surrogate.lstm.manybody.ManyBodyOperatorIntegrator`.

Both run closed loop from the paper's start (Verlet warm-up of W−1 = 4 strides, then operator strides
to t = 10⁴; ``--quick``: t = 300) WITH the FlashMD energy correction (momenta rescaled after every
stride so that E = E₀). The correction holds δE at zero by construction whenever a real rescaling
exists, so |δE| ≤ 1e-3 says little by itself: the tests that matter are completion (a guard stop or an
impossible rescaling is a failure, recorded with its reason), the velocity distribution against
Maxwell–Boltzmann at the run's mean kinetic temperature (KS distance of the speeds, Verlet's own value
beside it), and the RDF against Verlet's with ``surrogate compare``'s tolerance and pass rule. The
speedup against the fused Numba Verlet (``verlet_lj``) counts only where those rows are met.

Step 3 of the issue (why the rollouts fail, and what each change does) adds rows and figures:

* ``one_step_teacher_forced``: one-stride errors from true windows. Measured (2026-12-02, full models,
  2 shared cores): position RMSE 0.64 Å (flat) and 0.50 Å (many-body) against 0.83 Å for the no-skill
  ballistic guess x + vΔ_R; velocity RMSE 1.1 and 0.93 Å/τ against an RMS velocity of 0.96 (no skill);
  the predicted closest pair is 0.52 / 0.42 Å (truth 1.02 Å), so 100 % of the predictions have a
  potential energy above E₀ and the FlashMD correction cannot exist: both plain rollouts stop at stride 1.
* ``stride_map_amplification``: the exact stride map multiplies a 1e-6 Å position error by ×19 (median;
  ×35 at the 90th percentile) in one stride of 1000Δ, by ×1 at 100Δ (kT ≈ 0.93 eV ≈ 0.46ε; Verlet's
  g(r) peaks at ≈ 10 near 1.2σ: a hot cluster in a dilute box). A closed loop compounds its own error
  by that factor every stride.
* ``+ feasibility repair`` rows (:mod:`surrogate.lstm.feasibility`): a hard-core pass and a steepest
  descent until U ≤ E₀ − ¼K, so that the correction exists. Completion (and δE) is then held by
  construction; the RDF (0.64 flat, 0.55 many-body, limit 0.05) and speed-KS rows still fail: the
  droplet dissolves.
* ``--stride-study 100``: the many-body operator at Δ_R = 100Δ (closed loop to t = 100). One-stride
  validation loss 0.024 (0.73 at 1000Δ), but the plain closed loop still stops (stride 7 after 6 min of
  training, stride 422 after 2.5 min); with the repair (69-71 of 996 strides repaired) it completes with
  RDF 0.12 (limit 0.05) and speed KS 0.078 (Verlet 0.023). Velocity noise injection 0.05 (
  ``--study-input-noise``) changed neither (stride 7; RDF 0.14, KS 0.070).

    python -m benchmarks.lstm_lj16 --quick
    python -m benchmarks.lstm_lj16 [--models DIR]
    python -m benchmarks.lstm_lj16 --stride-study 100
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import target  # noqa: E402
from integrators.fused_verlet import verlet_lj  # noqa: E402
from systems.atomic_file import atomic_copy  # noqa: E402
from systems.lj16_paper import PAPER_STRIDE_STEPS, PAPER_TIMESTEP, lj16_paper_system  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
STRIDE = PAPER_STRIDE_STEPS * PAPER_TIMESTEP  # Δ_R = 1 τ
WINDOW = 5
#: Discard the first T_EQ τ of every run from the velocity statistic: the lattice start needs time to thermalise.
T_EQ = 20.0
#: Blow-up guard of the many-body operator (Å per stride). Verlet itself moves atoms up to 4.2 Å in one
#: stride here (gas atoms at up to 4.5σ/τ), so the integrator's 2 Å default would stop correct rollouts.
MAX_DISPLACEMENT = 6.0
#: Velocity row: the operator's KS distance from Maxwell–Boltzmann may exceed Verlet's by at most this much.
KS_MARGIN = 0.02

#: Training and evaluation settings (quick: shorter horizon, fewer and shorter trajectories, tighter caps).
CONFIG = {
    False: {"t_end": 10_000.0,
            "flat": {"trajectories": 200, "t_max": 100.0, "displacement": 0.05, "max_epochs": 200,
                     "max_windows": 80_000, "input_noise": 0.002, "budget_s": 180.0},
            "manybody": {"trajectories": 24, "t_max": 100.0, "phases": 2, "displacement": 0.05, "max_epochs": 40,
                         "augment": 1, "position_noise": 0.02, "velocity_noise": 0.02, "budget_s": 240.0}},
    True: {"t_end": 300.0,
           "flat": {"trajectories": 30, "t_max": 40.0, "displacement": 0.05, "max_epochs": 6,
                    "max_windows": 10_000, "input_noise": 0.002, "budget_s": 12.0},
           "manybody": {"trajectories": 4, "t_max": 30.0, "phases": 1, "displacement": 0.05, "max_epochs": 3,
                        "augment": 0, "position_noise": 0.02, "velocity_noise": 0.02, "budget_s": 20.0}},
}


def default_models(quick: bool) -> pathlib.Path:
    return ROOT / "runs" / ("lstm_models_quick" if quick else "lstm_models")


# ------------------------------------------------------------------ training
def train_flat(models: pathlib.Path, quick: bool, log=print) -> pathlib.Path:
    """The paper-style flat LSTM operator ``lj16paper_flat.pt`` (trained here if missing)."""
    from surrogate.lstm import train_lstm
    from surrogate.lstm.lj16_data import lj16_trajectories

    path = models / "lj16paper_flat.pt"
    if path.is_file():
        return path
    cfg = CONFIG[bool(quick)]["flat"]
    t0 = time.perf_counter()
    data = lj16_trajectories(cfg["trajectories"], cfg["t_max"], displacement=cfg["displacement"], seed=1)
    log(f"flat LJ16 data: {cfg['trajectories']} × t = {cfg['t_max']:g} in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    best = train_lstm(data, models / "_train_lj16paper_flat", stride_steps=PAPER_STRIDE_STEPS, window=WINDOW,
                      max_epochs=cfg["max_epochs"], batch_size=256, lr=2e-3, dropout=0.0,
                      max_windows=cfg["max_windows"], input_noise=cfg["input_noise"], lr_patience=5,
                      early_stopping_patience=20, seed=0, progress=False, time_budget_s=cfg["budget_s"])
    models.mkdir(parents=True, exist_ok=True)
    atomic_copy(best, path)
    log(f"trained {path.name} in {time.perf_counter() - t0:.0f} s")
    return path


def train_manybody_lj16(models: pathlib.Path, quick: bool, log=print, stride_steps: int = PAPER_STRIDE_STEPS,
                        cfg: dict | None = None) -> pathlib.Path:
    """The many-body operator ``lj16paper_manybody.pt`` (force input; trained here if missing).

    stride_steps : Δ_R in Verlet steps (another stride gets its own file, ``lj16paper_manybody_<steps>.pt``);
    cfg : training settings (default :data:`CONFIG`).
    """
    from surrogate.lstm.lj16_data import fused_stride_map, lj16_potential, lj16_trajectories, stride_runs
    from surrogate.lstm.manybody import train_manybody, trajectory_forces

    cfg = cfg or CONFIG[bool(quick)]["manybody"]
    suffix = "" if stride_steps == PAPER_STRIDE_STEPS else f"_{stride_steps}"
    suffix += f"_noise{cfg['input_noise']:g}" if cfg.get("input_noise") else ""
    path = models / f"lj16paper_manybody{suffix}.pt"
    if path.is_file():
        return path
    t0 = time.perf_counter()
    system, provider, pot = lj16_potential()
    data = lj16_trajectories(cfg["trajectories"], cfg["t_max"], displacement=cfg["displacement"], seed=10_001)
    xs, vs = stride_runs(data, stride_steps, cfg["phases"])
    fs = [trajectory_forces(x, system.masses, system.cell, system.pbc, provider) for x in xs]
    log(f"many-body LJ16 data: {len(xs)} runs × {len(xs[0])} strides in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    best = train_manybody(xs, vs, system.masses, system.cell, system.pbc, models / f"_train_lj16paper_manybody{suffix}",
                          stride=stride_steps * PAPER_TIMESTEP, cutoff=3.0, max_epochs=cfg["max_epochs"],
                          batch_size=8, lr=2e-3,
                          progress=False, force_input=True, forces=fs, force_provider=provider,
                          augment_copies=cfg["augment"], position_noise=cfg["position_noise"],
                          velocity_noise=cfg["velocity_noise"], input_noise=cfg.get("input_noise", 0.0),
                          reference_map=fused_stride_map(pot, system.masses, stride_steps),
                          val_fraction=1.0 / max(2, cfg["trajectories"]), time_budget_s=cfg["budget_s"],
                          system_info={"kind": "lj16_paper", "box": float(system.cell[0, 0]), "epsilon": 2.0,
                                       "cutoff": 2.5})
    models.mkdir(parents=True, exist_ok=True)
    atomic_copy(best, path)
    log(f"trained {path.name} in {time.perf_counter() - t0:.0f} s")
    return path


# ---------------------------------------------------------------- evaluation
def verlet_reference(t_end: float, stride_steps: int = PAPER_STRIDE_STEPS) -> dict:
    """Fused Verlet from the paper's start to ``t_end`` (τ), a state every stride, and its wall time per τ."""
    system, provider = lj16_paper_system()
    from integrators.fused_verlet import PeriodicLJ

    pot = PeriodicLJ.from_system(system, provider)
    n_steps = int(round(t_end / PAPER_TIMESTEP))
    verlet_lj(system.positions, system.velocities, system.masses, pot, PAPER_TIMESTEP, 10, 10)  # compile
    t0 = time.perf_counter()
    tr = verlet_lj(system.positions, system.velocities, system.masses, pot, PAPER_TIMESTEP, n_steps, stride_steps)
    wall = time.perf_counter() - t0
    e = tr.potential_energy + tr.kinetic_energy
    return {"positions": tr.positions, "velocities": tr.velocities, "times": tr.times, "E0": float(e[0]),
            "max_abs_deltaE": float(np.abs((e - e[0]) / e[0]).max()), "s_per_tau": wall / t_end,
            "masses": system.masses, "box": np.diag(system.cell).copy()}


def evaluate(label: str, make_integrator, ref: dict, t_end: float, log=print,
             repair: bool = False, stride: float = STRIDE) -> tuple[dict, list[dict], str]:
    """One operator closed loop from the paper's start to ``t_end``; (figures, targets, horizon label).

    make_integrator(provider) -> integrator; with ``repair`` the provider it gets is a
    :class:`~surrogate.lstm.feasibility.FeasibilityRepair`, armed with the integrator's E₀ after the warm-up.
    """
    from surrogate.lstm.feasibility import FeasibilityRepair
    from surrogate.lstm.lj16_eval import closed_loop, maxwell_speed_ks, rdf_distance

    system, provider = lj16_paper_system()
    n_strides = int(round(t_end / stride)) - (WINDOW - 1)  # the Verlet warm-up covers the first W−1 strides
    fixer = FeasibilityRepair(provider) if repair else None
    run = closed_loop(make_integrator(fixer or provider), system, provider, n_strides, e0=ref["E0"], log=log,
                      after_initialize=(lambda integ: fixer.arm(integ._e0)) if repair else None)
    done = run["strides_completed"]
    first = WINDOW  # reference index of the operator's first state (t = W·Δ_R)
    eq = int(round(T_EQ / stride))
    fig = {k: run[k] for k in ("strides_completed", "strides_requested", "completed", "stop_reason",
                               "max_abs_deltaE", "max_abs_deltaE_completed_part", "wall_s")}
    fig["t_reached"] = (WINDOW - 1 + done) * stride
    fig["s_per_tau"] = run["wall_s"] / (done * stride) if done else None
    fig["speedup_vs_fused_verlet"] = ref["s_per_tau"] / fig["s_per_tau"] if done else 0.0
    if fixer is not None:
        fig["repair"] = fixer.stats()
    ks_v = maxwell_speed_ks(ref["velocities"][first + eq:first + done], ref["masses"]) if done > eq + 10 else None
    if done > eq + 10:
        ks = maxwell_speed_ks(run["velocities"][eq:], ref["masses"])
        rdf = rdf_distance(ref["positions"][first:first + done], run["positions"], ref["box"])
        fig.update({"ks_speed_mb": ks["ks"], "kT_eV": ks["kT_eV"], "verlet_ks_speed_mb": ks_v["ks"],
                    "verlet_kT_eV": ks_v["kT_eV"], "rdf_error": rdf["rdf_error"], "rdf_noise": rdf["noise"],
                    "rdf_limit": rdf["limit"], "rdf_passed": rdf["passed"]})
    horizon = "t = 1e4" if t_end == 10_000 else f"t = {t_end:g} (quick horizon, not 1e4)"
    name = f"LJ16 paper box closed-loop {label}, energy-corrected"
    completes = target(f"{name}: completes {horizon} with |δE| ≤ 1e-3", run["max_abs_deltaE"], 1e-3, "lower")
    rdf_row = target(f"{name}: RDF within compare tolerance of Verlet ({horizon})",
                     fig.get("rdf_error", float("inf")), fig.get("rdf_limit", 0.05), "lower", requires=[completes])
    ks_goal = (fig["verlet_ks_speed_mb"] if "verlet_ks_speed_mb" in fig else 0.0) + KS_MARGIN
    ks_row = target(f"{name}: speed KS vs Maxwell–Boltzmann ≤ Verlet's + {KS_MARGIN} ({horizon})",
                    fig.get("ks_speed_mb", float("inf")), ks_goal, "lower", requires=[completes])
    speed = target(f"{name}: speedup over fused Numba Verlet ({horizon})", fig["speedup_vs_fused_verlet"], 1.0,
                   "higher", requires=[completes, rdf_row, ks_row])
    log(f"{label}: {done}/{n_strides} strides, max|δE| {run['max_abs_deltaE_completed_part']:.3g}, "
        f"KS {fig.get('ks_speed_mb', float('nan')):.3g} (Verlet {fig.get('verlet_ks_speed_mb', float('nan')):.3g}), "
        f"RDF {fig.get('rdf_error', float('nan')):.3g} (limit {fig.get('rdf_limit', float('nan')):.3g}), "
        f"{(fig['s_per_tau'] or float('nan')) * 1e3:.3g} ms/τ vs Verlet {ref['s_per_tau'] * 1e3:.3g} ms/τ"
        + (f", repair {fixer.stats()}" if fixer is not None else ""))
    return fig, [completes, rdf_row, ks_row, speed], horizon


def diagnostics(flat_path, mb_path, ref: dict) -> dict:
    """Teacher-forced one-stride errors of both operators on 100 true windows of the Verlet reference
    (t = 20 … 119τ), beside the no-skill ballistic guess, the closest predicted pair and how often the
    predicted potential energy alone exceeds E₀ (where the energy correction cannot exist)."""
    from integrators.fused_verlet import PeriodicLJ
    from surrogate.lstm import load_lstm
    from surrogate.lstm.lj16_eval import one_step_diagnostics, stride_map_amplification
    from surrogate.lstm.manybody import graph, load_manybody, trajectory_forces

    system, provider = lj16_paper_system()
    pot = PeriodicLJ.from_system(system, provider)
    starts = range(int(T_EQ), int(T_EQ) + 100)
    x, v = ref["positions"][:starts[-1] + 2], ref["velocities"][:starts[-1] + 2]
    f = trajectory_forces(x, system.masses, system.cell, system.pbc, provider)
    flat, _ = load_lstm(flat_path)
    mb, _ = load_manybody(mb_path)

    def predict_flat(xw, vw, fw):
        state = np.concatenate([xw.reshape(len(xw), -1), vw.reshape(len(vw), -1)], 1)[None]
        with torch.inference_mode():
            out = flat(torch.as_tensor(state, dtype=flat.feature_lo.dtype))[0].double().numpy()
        n = system.n_atoms * 3
        return out[:n].reshape(-1, 3), out[n:].reshape(-1, 3)

    def predict_mb(xw, vw, fw):
        p = next(mb.parameters())
        ei, ev = graph(xw[-1], system.cell, system.pbc, mb.cutoff, p.dtype)
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=p.dtype)  # noqa: E731
        with torch.inference_mode():
            dx, dv = mb(as_t(xw.transpose(1, 0, 2)), as_t(vw.transpose(1, 0, 2)), ei, ev,
                        as_t(fw.transpose(1, 0, 2)), as_t(system.masses))
        return xw[-1] + dx.double().numpy(), vw[-1] + dv.double().numpy()

    out = {name: one_step_diagnostics(fn, x, v, f, pot, ref["E0"], starts, STRIDE, WINDOW)
           for name, fn in (("flat", predict_flat), ("manybody", predict_mb))}
    # The exact stride map's sensitivity at this stride and at 100Δ (from the same 100 states).
    out["stride_map_amplification"] = {
        str(steps): stride_map_amplification(pot, system.masses, x[list(starts)], v[list(starts)], steps)
        for steps in (PAPER_STRIDE_STEPS, 100)}
    return out


def run(quick: bool, models: pathlib.Path | None = None, log=print) -> tuple[dict, list[dict]]:
    """Train (if missing) and evaluate both operators; (figures, targets) as benchmarks/_common expects."""
    from surrogate.lstm import LSTMOperatorIntegrator, StabilityGuard
    from surrogate.lstm.feasibility import FeasibilityRepair
    from surrogate.lstm.manybody import ManyBodyOperatorIntegrator

    torch.set_num_threads(1)
    models = default_models(quick) if models is None else pathlib.Path(models)
    cfg = CONFIG[bool(quick)]
    t_end = cfg["t_end"]
    t0 = time.perf_counter()
    ref = verlet_reference(t_end)
    figures = {"system": "LJ16 paper box: L = 6.795σ, ε = 2 eV, σ = 1 Å, rc = 2.5σ shifted, m = 1 amu, "
                         "lattice start at rest (the authors' first 16 of 27 sites)",
               "stride_steps": PAPER_STRIDE_STEPS, "timestep": PAPER_TIMESTEP, "t_end": t_end,
               "verlet": {"E0": ref["E0"], "max_abs_deltaE": ref["max_abs_deltaE"], "s_per_tau": ref["s_per_tau"],
                          "wall_s": time.perf_counter() - t0},
               "training": {k: dict(v) for k, v in cfg.items() if k != "t_end"}}
    targets = []
    flat_path = train_flat(models, quick, log)
    mb_path = train_manybody_lj16(models, quick, log)
    figures["one_step_teacher_forced"] = diagnostics(flat_path, mb_path, ref)
    for key in ("flat", "manybody"):  # the network alone against fused Verlet, per τ
        diag = figures["one_step_teacher_forced"][key]
        diag["speedup_bound_network_only"] = ref["s_per_tau"] / (diag["s_per_prediction"] / STRIDE)
    log(f"one-stride diagnostics (teacher-forced): {figures['one_step_teacher_forced']}")
    operators = {
        "flat": ("flat LSTM (paper-style)", lambda provider: LSTMOperatorIntegrator(
            flat_path, provider.provider if isinstance(provider, FeasibilityRepair) else provider,
            energy_provider=provider,
            energy_correction=True, guard=StabilityGuard())),
        "manybody": ("many-body operator", lambda provider: ManyBodyOperatorIntegrator(
            mb_path, provider, verlet_timestep=PAPER_TIMESTEP, energy_correction=True,
            max_displacement=MAX_DISPLACEMENT)),
    }
    for key, (label, make) in operators.items():
        for repair in (False, True):
            fig, rows, _ = evaluate(label + (" + feasibility repair" if repair else ""), make, ref, t_end, log,
                                    repair=repair)
            figures[key + ("_repaired" if repair else "")] = fig
            targets += rows
    return figures, targets


#: Stride study (``--stride-study STEPS``): the many-body operator at a shorter stride, to locate where the
#: closed loop starts to hold (a diagnostic of the cause, not a paper row; t_end τ of closed loop).
STRIDE_STUDY = {"trajectories": 12, "t_max": 30.0, "phases": 1, "displacement": 0.05, "max_epochs": 60,
                "augment": 1, "position_noise": 0.02, "velocity_noise": 0.02, "budget_s": 360.0, "t_end": 100.0}


def stride_study(stride_steps: int, models: pathlib.Path | None = None, log=print,
                 input_noise: float = 0.0) -> tuple[dict, list[dict]]:
    """The many-body operator (energy-corrected, without and with the repair) at Δ_R = ``stride_steps``·Δ;
    ``input_noise`` > 0 trains it with velocity noise injection (see ``train_manybody``)."""
    from surrogate.lstm.manybody import ManyBodyOperatorIntegrator

    torch.set_num_threads(1)
    models = default_models(False) if models is None else pathlib.Path(models)
    cfg = dict(STRIDE_STUDY, input_noise=float(input_noise))
    t_end = cfg.pop("t_end")
    stride = stride_steps * PAPER_TIMESTEP
    ref = verlet_reference(t_end, stride_steps)
    path = train_manybody_lj16(models, False, log, stride_steps=stride_steps, cfg=cfg)
    figures, targets = {"stride_steps": stride_steps, "t_end": t_end, "training": cfg}, []
    for repair in (False, True):
        label = f"many-body operator at {stride_steps}Δ" + (f", input noise {input_noise:g}" if input_noise else "") \
            + (" + feasibility repair" if repair else "")
        fig, rows, _ = evaluate(label, lambda provider: ManyBodyOperatorIntegrator(
            path, provider, verlet_timestep=PAPER_TIMESTEP, energy_correction=True,
            max_displacement=MAX_DISPLACEMENT), ref, t_end, log, repair=repair, stride=stride)
        figures["repaired" if repair else "plain"] = fig
        targets += rows
    return figures, targets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short horizon (t = 300), small cached models")
    parser.add_argument("--models", type=pathlib.Path, default=None,
                        help="model folder (default runs/lstm_models[_quick]); missing models are trained")
    parser.add_argument("--json", type=pathlib.Path, default=None,
                        help="also write {figures, targets} to this JSON file (atomically)")
    parser.add_argument("--study-input-noise", type=float, default=0.0,
                        help="with --stride-study: train with this velocity noise injection (fraction of v_s)")
    parser.add_argument("--stride-study", type=int, default=None, metavar="STEPS",
                        help="instead: the many-body operator at Δ_R = STEPS·Δ, closed loop to t = 100 (diagnostic)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.stride_study:
        figures, targets = stride_study(args.stride_study, args.models, input_noise=args.study_input_noise)
    else:
        figures, targets = run(args.quick, args.models)
    print(f"\n{'target':<100} {'value':>11} {'goal':>11}  met")
    for t in targets:
        print(f"{t['name']:<100} {t['value']:>11.4g} {t['target']:>11.4g}  {'yes' if t['met'] else 'NO'}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json is not None:
        import json

        from benchmarks._common import _jsonable
        from systems.atomic_file import atomic_write_text

        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps({"figures": figures, "targets": targets,
                                                 "wall_s": time.perf_counter() - t0}, indent=1,
                                                default=_jsonable) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
