"""Side by side on GFN2-xTB data: our EGNN against a MACE model of similar size, same frames, same wall-clock budget.

Data (made with the project's own ``surrogate generate``; see ``benchmarks/data/README.md``):

- aspirin (21 atoms) at 500 K: ``benchmarks/data/xtb_aspirin_train.extxyz.gz`` and the independent held-out
  trajectory ``xtb_aspirin_test.extxyz.gz`` (``benchmarks/data/make_xtb_aspirin.py``);
- periodic water, 24 atoms (8 molecules) in a 6.2 Å box at 350 K, with stress (``--water``, default the package
  data ``surrogate/data/xtb_water/trajectory.extxyz``): the first 80 % of its frames train, the last 20 % are held out.

Both models train one after the other on one thread for ``--budget-minutes`` each (aspirin) and
``--water-budget-minutes`` each (water), on the same training frames and the same 90/10 train/validation split
(``surrogate.egnn.train``'s split). The EGNN: ``train_egnn`` (hidden 64, 4 layers, 5 Å cutoff, float32, ~93k
parameters for H/C/O); MACE: ``benchmarks/reference_mace.py`` (mace-torch ``ScaleShiftMACE``, 32x0e+32x1o, 2
interactions, correlation 3, 5 Å, float32, ~84k parameters; MACE's loss weights, EMA and second stage).

Reported on the held-out frames: force MAE (meV/Å), raw energy MAE (eV per structure, no offset removed) beside the
MAE of predicting the training mean energy, stress MAE over the reference stress std (water), and the median time of
one energy+forces call (1 thread, ASE calculators: ``SurrogateCalculator``, ``MACECalculator``, tblite's ``TBLite``)
for aspirin, water-24 and water-192 (a 2×2×2 supercell). A summary copies the rows of other benchmarks
(N-body, busy-machine epoch, demo) from their JSON files in ``benchmarks/results`` with their source and date.

Usage: ``python benchmarks/reference_accuracy.py [--quick] [--budget-minutes 10] [--water PATH]``
Full mode: about 2 × 10 + 2 × 5 minutes of training plus timings (~35 min on 2 cores). ``--quick`` (under 2 minutes
on a quiet machine) trains on 100 aspirin frames for 20 s per model (the EGNN runs at least one epoch), skips MACE
on water and reuses xTB timings cached by an earlier run in ``benchmarks/cache/xtb_times.json`` (measuring them when
absent); its figures are unconverged and it says so (``"mode": "quick"``). Models and caches go to
``benchmarks/cache/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import sys
import time
import functools
import gzip
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, median_time, target, write_result  # noqa: E402
from systems.atomic_file import atomic_write, atomic_write_text  # noqa: E402
from systems.errors import InputError  # noqa: E402

print = functools.partial(print, flush=True)  # noqa: A001  (progress lines appear as they happen, also in a log)

DATA = ROOT / "benchmarks" / "data"
CACHE = ROOT / "benchmarks" / "cache"
DEFAULT_WATER = ROOT / "surrogate" / "data" / "xtb_water" / "trajectory.extxyz"

EGNN_ARCH = dict(cutoff=5.0, hidden=64, layers=4)
EGNN_TRAIN = dict(batch_size=8, lr=2e-3, lr_patience=10, early_stopping_patience=10_000, energy_weight=1.0,
                  force_weight=10.0, val_fraction=0.1, seed=0, device="cpu", dtype="float32", progress=False,
                  ema_decay=0.99)

#: Rows of other benchmarks copied into the summary: (result file, words that select its rows).
SUMMARY_SOURCES = (("egnn_nbody.json", "N-body"), ("threads.json", "epoch with a second busy process"),
                   ("demo.json", "demo"))


# --------------------------------------------------------------------------- data
def read_atoms(path: Path, what: str) -> list:
    """All frames of an extxyz(.gz) file as ase.Atoms with energy/forces(/stress); InputError naming the file."""
    from ase.io import read

    if not path.exists():
        raise InputError(f"{what}: {path} does not exist")
    if path.suffix == ".gz":  # ASE re-reads a compressed file per frame; read a decompressed copy instead
        plain = CACHE / path.name[: -len(".gz")]
        if not plain.exists() or plain.stat().st_mtime < path.stat().st_mtime:
            with gzip.open(path, "rb") as fin:
                data = fin.read()
            atomic_write(plain, lambda handle: handle.write(data))
        path = plain
    frames = read(path, index=":", format="extxyz")
    for k, a in enumerate(frames):
        if a.calc is None or "energy" not in a.calc.results or "forces" not in a.calc.results:
            raise InputError(f"{what}: {path} frame {k} has no energy and forces")
    return frames


def evenly(frames: list, n: int | None) -> list:
    """``n`` frames spread evenly over ``frames`` (all when n is None or larger)."""
    if n is None or n >= len(frames):
        return list(frames)
    return [frames[int(k)] for k in np.linspace(0, len(frames) - 1, n).round().astype(int)]


def split_train_val(n: int, val_fraction: float, seed: int):
    """The EGNN trainer's own train/validation split, so MACE sees exactly the same frames."""
    from surrogate.egnn.train import _split

    return _split(n, val_fraction, seed)


# --------------------------------------------------------------------------- EGNN
def train_egnn_budget(train_atoms: list, out_dir: Path, budget_s: float, stress: bool, log=print) -> tuple[Path, dict]:
    """Train the EGNN on ``train_atoms`` for ``budget_s`` seconds of training wall time; (best model path, summary).

    The one place the EGNN is trained here: ``train_egnn``'s own time budget, EMA, and its default stress weight
    (10 when every frame is periodic with a stress) where ``stress``, else none.
    """
    from surrogate.egnn.train import train_egnn

    kwargs = dict(EGNN_ARCH, **EGNN_TRAIN, stress_weight=None if stress else 0.0)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    t0 = time.perf_counter()
    best = train_egnn(train_atoms, out_dir, max_epochs=100_000, time_budget_min=budget_s / 60.0, **kwargs)
    epochs = _metric_rows(out_dir)
    log(f"  EGNN {epochs} epochs ({time.perf_counter() - t0:.0f} s)")
    used = {k: v for k, v in kwargs.items() if k not in ("device", "progress")}
    return best, {"epochs": epochs, "train_seconds": time.perf_counter() - t0, "time_budget_by": "time_budget_min",
                  "settings": used}


def _metric_rows(out_dir: Path) -> int:
    path = out_dir / "metrics.csv"
    if not path.exists():
        return 0
    return len(np.atleast_1d(np.genfromtxt(path, delimiter=",", names=True)))


def evaluate_egnn(model_path: Path, test_atoms: list, stress: bool, batch_size: int = 8) -> dict:
    """Predicted/reference energies [S] (eV per structure), forces [N, 3] (eV/Å), stresses [S, 3, 3] (eV/Å³)."""
    from torch_geometric.data import Batch

    from surrogate.egnn.autograd_forces import energy_forces_stress
    from surrogate.egnn.data import graphs_from_atoms
    from surrogate.egnn.train import load_egnn

    model = load_egnn(model_path)
    model.eval()
    graphs = graphs_from_atoms(test_atoms, model.cutoff)
    pe, pf, ps = [], [], []
    for k in range(0, len(graphs), batch_size):
        out = energy_forces_stress(model, Batch.from_data_list(graphs[k : k + batch_size]), stress=stress)
        pe.append(out.energy.detach().double().numpy())
        pf.append(out.forces.detach().double().numpy())
        if stress:
            ps.append(out.stress.detach().double().numpy())
    return {"energy": np.concatenate(pe), "forces": np.concatenate(pf),
            "stress": np.concatenate(ps) if stress else None, **_references(test_atoms, stress)}


def _references(atoms_list: list, stress: bool) -> dict:
    return {"energy_ref": np.array([a.get_potential_energy() for a in atoms_list]),
            "forces_ref": np.concatenate([a.get_forces() for a in atoms_list]),
            "stress_ref": np.stack([a.get_stress(voigt=False) for a in atoms_list]) if stress else None}


# --------------------------------------------------------------------------- errors and timings
def errors(pred: dict, train_atoms: list) -> dict:
    """Force MAE (meV/Å), raw energy MAE and mean-predictor MAE (eV per structure), stress MAE and std (meV/Å³)."""
    e_mean = float(np.mean([a.get_potential_energy() for a in train_atoms]))
    out = {"force_mae_meV_per_A": 1e3 * float(np.abs(pred["forces"] - pred["forces_ref"]).mean()),
           "force_ref_std_meV_per_A": 1e3 * float(np.std(pred["forces_ref"])),
           "energy_mae_eV": float(np.abs(pred["energy"] - pred["energy_ref"]).mean()),
           "energy_mean_offset_eV": float(np.mean(pred["energy"] - pred["energy_ref"])),
           "mean_predictor_energy_mae_eV": float(np.abs(pred["energy_ref"] - e_mean).mean())}
    if pred.get("stress") is not None:
        iu = np.triu_indices(3)                                   # the six independent components
        p, r = pred["stress"][:, iu[0], iu[1]], pred["stress_ref"][:, iu[0], iu[1]]
        out["stress_mae_meV_per_A3"] = 1e3 * float(np.abs(p - r).mean())
        out["stress_ref_std_meV_per_A3"] = 1e3 * float(np.std(r))
    return out


def call_time(calc, atoms, repeats: int, stress: bool = False, warmup: int = 1) -> float:
    """Median seconds of one fresh energy+forces(+stress) call on ``atoms`` (positions nudged each call)."""
    a = atoms.copy()
    a.calc = calc
    rng = np.random.default_rng(0)
    base = a.get_positions().copy()

    def once():
        a.set_positions(base + 1e-4 * rng.standard_normal(base.shape))
        a.get_forces()
        if stress:
            a.get_stress()

    return median_time(once, repeats=repeats, warmup=warmup)


def xtb_calculator():
    from tblite.ase import TBLite

    return TBLite(method="GFN2-xTB", verbosity=0)


def xtb_time(key: str, atoms, repeats: int, reuse: bool, log=print) -> dict:
    """xTB's call time for ``key``, measured (and cached in ``benchmarks/cache/xtb_times.json``) or reused."""
    path = CACHE / "xtb_times.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    cache = json.loads(path.read_text()) if path.exists() else {}
    if reuse and key in cache:
        log(f"  xTB {key}: {cache[key]['seconds'] * 1e3:.1f} ms (cached {cache[key]['date']})")
        return dict(cache[key], cached=True)
    seconds = call_time(xtb_calculator(), atoms, repeats, warmup=1 if repeats > 1 else 0)
    cache[key] = {"seconds": seconds, "repeats": repeats, "n_atoms": len(atoms),
                  "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "load_average": os.getloadavg()[0]}
    atomic_write_text(path, json.dumps(cache, indent=2) + "\n")
    log(f"  xTB {key}: {seconds * 1e3:.1f} ms")
    return dict(cache[key], cached=False)


# --------------------------------------------------------------------------- summary of other benchmarks
def copied_rows(results: Path = RESULTS) -> tuple[list[dict], list[str]]:
    """Target rows of other benchmarks (N-body, busy-machine epoch, demo) copied with source file and date.

    Returns (rows, notes): a source file that is absent, or holds no row with its words, gives a note, never a row.
    """
    rows, notes = [], []
    for name, words in SUMMARY_SOURCES:
        path = results / name
        if not path.exists():
            notes.append(f"{name}: not found in {results}")
            continue
        data = json.loads(path.read_text())
        picked = [t for t in data.get("targets", []) if words.lower() in t["name"].lower()]
        if not picked:
            notes.append(f"{name}: no target whose name contains {words!r}")
        for t in picked:
            row = {k: t[k] for k in ("name", "value", "target", "better", "met")}
            row.update(source=f"benchmarks/results/{name}", source_date=data.get("date"))
            rows.append(row)
    return rows, notes


# --------------------------------------------------------------------------- main
def run_pair(label: str, train_atoms: list, test_atoms: list, budget_s: float, stress: bool, with_mace: bool,
             cache: Path = CACHE, log=print) -> tuple[dict, Path, object]:
    """Train the EGNN then MACE on the same frames and budget; figures, EGNN model path and MACE model (or None).

    Models are kept in ``cache`` (``benchmarks/cache/quick`` or ``/full``, so the two modes never share a folder).
    """
    from benchmarks.reference_mace import MaceConfig, evaluate_mace, train_mace

    train_idx, val_idx = split_train_val(len(train_atoms), EGNN_TRAIN["val_fraction"], EGNN_TRAIN["seed"])
    log(f"{label}: {len(train_atoms)} training frames ({len(train_idx)} train / {len(val_idx)} validation), "
        f"{len(test_atoms)} held out; {budget_s:.0f} s per model")
    egnn_path, egnn_summary = train_egnn_budget(train_atoms, cache / f"egnn_{label}", budget_s, stress, log)
    figures = {"n_train_frames": len(train_atoms), "n_test_frames": len(test_atoms), "budget_seconds": budget_s,
               "egnn": dict(egnn_summary, parameters=_egnn_parameters(egnn_path),
                            **errors(evaluate_egnn(egnn_path, test_atoms, stress), train_atoms))}
    log(f"  EGNN: {figures['egnn']['force_mae_meV_per_A']:.1f} meV/Å, energy MAE "
        f"{figures['egnn']['energy_mae_eV'] * 1e3:.1f} meV (mean predictor "
        f"{figures['egnn']['mean_predictor_energy_mae_eV'] * 1e3:.1f} meV)")
    mace = None
    if with_mace:
        cfg = MaceConfig()
        mace, mace_summary = train_mace([train_atoms[k] for k in train_idx], [train_atoms[k] for k in val_idx],
                                        budget_s, cfg, stress=stress, log=log)
        figures["mace"] = dict(mace_summary, **errors(evaluate_mace(mace, test_atoms, cfg.r_max, stress),
                                                      train_atoms))
        torch.save(mace, cache / f"mace_{label}.model")
        log(f"  MACE: {figures['mace']['force_mae_meV_per_A']:.1f} meV/Å, energy MAE "
            f"{figures['mace']['energy_mae_eV'] * 1e3:.1f} meV")
    return figures, egnn_path, mace


def _egnn_parameters(path: Path) -> int:
    from surrogate.egnn.train import load_egnn

    return int(sum(p.numel() for p in load_egnn(path).parameters()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cached set, 20 s budgets (< 2 min; unconverged)")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="training wall time per model on aspirin (default 10; quick 1/3)")
    parser.add_argument("--water-budget-minutes", type=float, default=None,
                        help="training wall time per model on water (default 5; quick 1/4)")
    parser.add_argument("--aspirin-train", default=str(DATA / "xtb_aspirin_train.extxyz.gz"))
    parser.add_argument("--aspirin-test", default=str(DATA / "xtb_aspirin_test.extxyz.gz"))
    parser.add_argument("--water", default=str(DEFAULT_WATER),
                        help="GFN2-xTB water-24 trajectory with energies, forces and stress")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per model (default 20; quick 5)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    warnings.filterwarnings("ignore", module="e3nn")
    quick = args.quick
    budget = 60 * (args.budget_minutes if args.budget_minutes is not None else (1 / 3 if quick else 10.0))
    water_budget = 60 * (args.water_budget_minutes if args.water_budget_minutes is not None
                         else (0.25 if quick else 5.0))
    repeats = args.repeats or (5 if quick else 20)
    models = CACHE / ("quick" if quick else "full")
    models.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    figures = {"mode": "quick (small set, short budgets: unconverged figures)" if quick else "full",
               "threads": 1, "dtype": "float32 (EGNN and MACE)",
               "load_average_at_start": os.getloadavg()[0], "missing": []}
    targets = []

    # ---- aspirin
    asp_train = read_atoms(Path(args.aspirin_train), "aspirin training data")
    asp_test = read_atoms(Path(args.aspirin_test), "aspirin held-out data")
    if quick:
        asp_train, asp_test = evenly(asp_train, 100), evenly(asp_test, 30)
    asp, egnn_asp, mace_asp = run_pair("aspirin", asp_train, asp_test, budget, stress=False, with_mace=True,
                                     cache=models)
    figures["aspirin"] = asp
    ratio = asp["egnn"]["force_mae_meV_per_A"] / asp["mace"]["force_mae_meV_per_A"]
    targets.append(target("aspirin: EGNN force MAE / MACE force MAE (same frames, same budget)", ratio, 1.5,
                          "lower"))
    targets.append(target("aspirin: EGNN raw energy MAE / mean-predictor energy MAE",
                          asp["egnn"]["energy_mae_eV"] / asp["egnn"]["mean_predictor_energy_mae_eV"], 0.2, "lower"))

    from surrogate.calculator import SurrogateCalculator
    from benchmarks.reference_mace import mace_calculator

    molecule = asp_test[0]
    times = {"aspirin_21": {"egnn_s": call_time(SurrogateCalculator(egnn_asp), molecule, repeats),
                            "mace_s": call_time(mace_calculator(mace_asp), molecule, repeats),
                            "xtb": xtb_time("aspirin_21", molecule, repeats, reuse=quick)}}
    t = times["aspirin_21"]
    print(f"one call, aspirin: EGNN {t['egnn_s'] * 1e3:.2f} ms, MACE {t['mace_s'] * 1e3:.2f} ms, "
          f"xTB {t['xtb']['seconds'] * 1e3:.2f} ms", flush=True)
    targets.append(target("aspirin one call: EGNN time / xTB time (1 thread)", t["egnn_s"] / t["xtb"]["seconds"],
                          1.0, "lower"))
    targets.append(target("aspirin one call: MACE time / EGNN time (1 thread; xTB reference)",
                          t["mace_s"] / t["egnn_s"], 3.0, "higher"))

    # ---- water
    water_path = Path(args.water)
    if water_path.exists():
        water = read_atoms(water_path, "water data")
        if "stress" not in water[0].calc.results:
            raise InputError(f"water data: {water_path} has no stress")
        n_train = int(round(0.8 * len(water)))
        w_train, w_test = water[:n_train], water[n_train:]
        if quick:
            w_train = evenly(w_train, 40)
        wat, egnn_w, mace_w = run_pair("water24", w_train, w_test, water_budget, stress=True, with_mace=not quick,
                                          cache=models)
        figures["water24"] = dict(wat, source=str(water_path))
        targets.append(target("water-24: EGNN stress MAE / reference stress std",
                              wat["egnn"]["stress_mae_meV_per_A3"] / wat["egnn"]["stress_ref_std_meV_per_A3"],
                              0.25, "lower"))
        w24 = w_test[0]
        w192 = w24.repeat(2)
        times["water_24"] = {"egnn_s": call_time(SurrogateCalculator(egnn_w), w24, repeats, stress=True),
                             "xtb": xtb_time("water_24", w24, max(2, repeats // 5), reuse=quick)}
        times["water_192"] = {"egnn_s": call_time(SurrogateCalculator(egnn_w), w192, max(3, repeats // 4),
                                                  stress=True),
                              "xtb": xtb_time("water_192", w192, 1, reuse=quick)}
        if mace_w is not None:
            times["water_24"]["mace_s"] = call_time(mace_calculator(mace_w), w24, repeats)
        for key, goal in (("water_24", 150.0), ("water_192", 500.0)):
            tw = times[key]
            print(f"one call, {key}: EGNN {tw['egnn_s'] * 1e3:.2f} ms, xTB {tw['xtb']['seconds'] * 1e3:.0f} ms",
                  flush=True)
            targets.append(target(f"{key.replace('_', '-')} one call: xTB time / EGNN time (1 thread)",
                                  tw["xtb"]["seconds"] / tw["egnn_s"], goal, "higher"))
    else:
        figures["missing"].append(f"water data not found at {water_path}: no stress row and no water timings "
                                  "(pass --water PATH)")
        print(figures["missing"][-1], flush=True)
    figures["one_call_seconds"] = times

    rows, notes = copied_rows()
    figures["summary_notes"] = notes
    targets.extend(rows)
    figures["wall_seconds"] = time.perf_counter() - t_start
    figures["load_average_at_end"] = os.getloadavg()[0]
    write_result("reference_accuracy", figures, targets)


if __name__ == "__main__":
    main()
