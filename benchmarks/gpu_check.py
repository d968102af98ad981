"""GPU check: the EGNN and LSTM operator on CUDA, against the same code on the CPU.

Physics on the GPU (float64): E invariant and F equivariant under a random
rotation + translation to 1e-10, F = −∇E by finite differences, CUDA equal to
CPU. Speed on the GPU (float32): EGNN energy + forces in atom-steps/s for
liquid argon boxes (4 layers, 64 features, 5 Å cutoff), model only and through
the force provider (which includes the CPU neighbor list), plus a CPU run of
the same model in the same process for the ratio. A few training steps run on
CUDA (double backward through the force loss).

    python benchmarks/gpu_check.py [--quick]

Needs a CUDA device; without one it says so, writes nothing and exits 0 (``--device cpu`` dry-runs the
script into ``results/gpu_check_dryrun.json``). Every target is a same-run measurement: the speed target is the
GPU over the same model on this machine's CPU, at the largest N.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import target, write_result  # noqa: E402


def timed(fn, sync, repeats=10, warmup=3) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cuda", help="cuda (default); cpu only to dry-run this script")
    args = parser.parse_args()

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        # Not a failure of the code under test: nothing ran and no result file is written.
        print("no CUDA device: nothing to check, no result written (--device cpu dry-runs this script)")
        return
    from scipy.spatial.transform import Rotation

    from surrogate.egnn.autograd_forces import energy_forces_stress
    from surrogate.egnn.graph import build_graph, single_batch
    from surrogate.egnn.model import EGNNEnergyModel
    from surrogate.egnn.provider import EGNNForceProvider
    from systems.catalogue import liquid_argon

    torch.manual_seed(0)
    cuda = torch.device(args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu (dry run)"
    figures: dict = {"device": name, "torch": torch.__version__}
    targets = []

    # --- physics in float64 on CUDA ------------------------------------------------
    system = liquid_argon(64, seed=1)
    model64 = EGNNEnergyModel([18], cutoff=5.0, hidden=32, layers=3, dtype=torch.float64, device=cuda)
    with torch.no_grad():  # make the random model non-trivial
        for p in model64.parameters():
            p.add_(0.05 * torch.randn_like(p))
    prov_gpu = EGNNForceProvider(model64, device=args.device, dtype="float64")
    ref = prov_gpu.compute(system, stress=True)
    rot = Rotation.random(random_state=3).as_matrix()
    moved = system.copy()
    moved.positions = system.positions @ rot.T + np.array([1.3, -0.7, 2.1])
    moved.cell = system.cell @ rot.T
    res = EGNNForceProvider(model64, device=args.device, dtype="float64").compute(moved)
    figures["cuda_f64_energy_invariance"] = abs(res.energy - ref.energy)
    figures["cuda_f64_force_equivariance"] = float(np.abs(res.forces - ref.forces @ rot.T).max())
    targets.append(target("CUDA float64 |ΔE| under rotation+translation (eV)", figures["cuda_f64_energy_invariance"], 1e-10, "lower"))
    targets.append(target("CUDA float64 max |ΔF| equivariance (eV/Å)", figures["cuda_f64_force_equivariance"], 1e-10, "lower"))
    # F = −∇E, central differences on three coordinates.
    h = 1e-5
    errs = []
    for atom, axis in [(0, 0), (5, 1), (17, 2)]:
        plus, minus = system.copy(), system.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        fd = -(prov_gpu.compute(plus).energy - prov_gpu.compute(minus).energy) / (2 * h)
        errs.append(abs(fd - ref.forces[atom, axis]))
    figures["cuda_f64_fd_force_error"] = float(max(errs))
    targets.append(target("CUDA float64 |F + dE/dx| finite differences (eV/Å)", figures["cuda_f64_fd_force_error"], 1e-6, "lower"))
    # CUDA against CPU, same weights.
    model_cpu = EGNNEnergyModel([18], cutoff=5.0, hidden=32, layers=3, dtype=torch.float64)
    model_cpu.load_state_dict({k: v.cpu() for k, v in model64.state_dict().items()})
    cpu_res = EGNNForceProvider(model_cpu, device="cpu", dtype="float64").compute(system, stress=True)
    figures["cuda_vs_cpu_energy_f64"] = abs(cpu_res.energy - ref.energy)
    figures["cuda_vs_cpu_forces_f64"] = float(np.abs(cpu_res.forces - ref.forces).max())
    figures["cuda_vs_cpu_stress_f64"] = float(np.abs(cpu_res.stress - ref.stress).max())
    targets.append(target("CUDA vs CPU |ΔE| float64 (eV)", figures["cuda_vs_cpu_energy_f64"], 1e-9, "lower"))
    targets.append(target("CUDA vs CPU max |ΔF| float64 (eV/Å)", figures["cuda_vs_cpu_forces_f64"], 1e-9, "lower"))

    # --- training steps on CUDA ---------------------------------------------------------
    graph = single_batch(build_graph(system.numbers, system.positions, system.cell, system.pbc, 5.0,
                                     energy=ref.energy, forces=ref.forces))
    train_model = EGNNEnergyModel([18], cutoff=5.0, hidden=32, layers=3, dtype=torch.float32, device=cuda)
    opt = torch.optim.Adam(train_model.parameters(), lr=1e-3)
    target_f = torch.as_tensor(ref.forces, dtype=torch.float32, device=cuda)
    losses = []
    for _ in range(20):
        out = energy_forces_stress(train_model, graph, training=True)
        loss = ((out.forces - target_f) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    figures["cuda_training_force_loss_first_last"] = [losses[0], losses[-1]]
    targets.append(target("CUDA training: last/first force loss", losses[-1] / losses[0], 1.0, "lower"))

    # --- speed in float32 --------------------------------------------------------------
    sizes = [256, 2048] if args.quick else [256, 2048, 16384]
    figures["speed"] = {}
    figures["cpu_torch_threads"] = torch.get_num_threads()
    for n in sizes:
        s = liquid_argon(n, seed=0)
        row = {}
        for label, dev in (("gpu", args.device), ("cpu", "cpu")):
            m = EGNNEnergyModel([18], cutoff=5.0, hidden=64, layers=4, dtype=torch.float32, device=dev)
            prov = EGNNForceProvider(m, device=dev, dtype="float32")
            g = single_batch(build_graph(s.numbers, s.positions, s.cell, s.pbc, 5.0))
            dsync = sync if dev == "cuda" else (lambda: None)
            t_model = timed(lambda: energy_forces_stress(m, g), dsync, repeats=10 if dev == "cuda" else 3)
            t_prov = timed(lambda: prov.compute(s), dsync, repeats=10 if dev == "cuda" else 3)
            row[f"{label}_model_atom_steps_per_s"] = n / t_model
            row[f"{label}_provider_atom_steps_per_s"] = n / t_prov
        row["gpu_over_cpu_model"] = row["gpu_model_atom_steps_per_s"] / row["cpu_model_atom_steps_per_s"]
        figures["speed"][str(n)] = row
        print(n, {k: round(v, 1) for k, v in row.items()})
    big = str(sizes[-1])
    # A same-run ratio: the same model and code on this machine's CPU.
    targets.append(target(f"GPU / CPU ({torch.get_num_threads()} threads) model atom-steps/s, same run, N={big}",
                          figures["speed"][big]["gpu_over_cpu_model"], 5.0, "higher"))

    # --- LSTM operator: batched-ensemble rollout on CUDA against the CPU ----------------------
    from surrogate.lstm.integrator import rollout
    from surrogate.lstm.model import LSTMOperator

    figures["lstm"] = {}
    for label, dev in (("gpu", args.device), ("cpu", "cpu")):
        torch.manual_seed(0)
        op = LSTMOperator(16, 3, window=5, hidden=(32, 32), dense=96, dropout=0.0, box=[4.31] * 3).to(dev).eval()
        windows = np.random.default_rng(0).uniform(0, 4.31, (1024, 5, op.state_dim)) * 0.1
        dsync = sync if dev == "cuda" else (lambda: None)
        t = timed(lambda: rollout(op, windows, 100), dsync, repeats=3, warmup=1)
        figures["lstm"][f"{label}_strides_per_s_batch1024"] = 100 / t
        figures["lstm"][f"{label}_trajectory_strides_per_s"] = 1024 * 100 / t
    figures["lstm"]["gpu_over_cpu"] = (figures["lstm"]["gpu_trajectory_strides_per_s"]
                                        / figures["lstm"]["cpu_trajectory_strides_per_s"])
    print("lstm", figures["lstm"])
    write_result("gpu_check" if args.device == "cuda" else "gpu_check_dryrun", figures, targets)
    out = os.environ.get("OUT")
    if out:
        import shutil

        shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "gpu_check.json"), out)


if __name__ == "__main__":
    main()
