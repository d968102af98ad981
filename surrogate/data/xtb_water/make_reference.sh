#!/usr/bin/env bash
# Makes the GFN2-xTB periodic water reference that `surrogate demo` ships with (trajectory.extxyz, thermo.csv,
# run_info.json, config.yaml in this folder). Run it from this folder with the package installed:
#     bash make_reference.sh
# Cost on the 2-core development machine, one thread per process, while other jobs ran (load 5-14):
#   1. the start structure: under a second;
#   2. GFN1-xTB Langevin, 1000 steps: 463 s (0.46 s per step);
#   3. GFN2-xTB Langevin, three replicas at once (replica 0 from the last GFN1 frame with seed 0, replicas 1 and 2
#      from frames -21 and -41 with seeds 1 and 2): 13-17 s per step each here (one GFN2 call on these 24 atoms is
#      about 3.3 s on one quiet thread, issue #11); run_info.json records each replica's steps and wall time.
# The runs were started with --time-ps 1.5 and snapshot while running by snapshot.py (complete frames only):
#     python snapshot.py "$WORK"      # writes trajectory.extxyz (replica 0), training.extxyz (all replicas minus
#                                     # their first 20 fs), thermo.csv, config.yaml, run_info.json here
# The Langevin noise is seeded, so the same commands repeat the frames.
set -euo pipefail
export OMP_NUM_THREADS=1          # xTB on one thread: faster than two threads on a busy 2-core machine
TIME_PS=${TIME_PS:-1.5}     # the shipped frames are a snapshot of these runs (run_info.json: how far they got)
WORK=${WORK:-xtb-water-work}
mkdir -p "$WORK" && cd "$WORK"

# 1. 8 randomly rotated H2O molecules on a 2x2x2 grid in a 6.2 Å cubic box (1.0 g/cm³ is 6.21 Å)
python3 - <<'PY'
import numpy as np
from ase import Atoms
from ase.build import molecule
from scipy.spatial.transform import Rotation
rng = np.random.default_rng(0)
w = molecule('H2O'); w.positions -= w.get_center_of_mass()
sym, pos = [], []
for i in range(2):
    for j in range(2):
        for l in range(2):
            R = Rotation.random(random_state=rng.integers(1 << 31)).as_matrix()
            c = (np.array([i, j, l]) + 0.5) * 3.1
            for s, p in zip(w.get_chemical_symbols(), w.positions):
                sym.append(s); pos.append(R @ p + c)
Atoms(sym, positions=pos, cell=[6.2] * 3, pbc=True).write('start.extxyz')
PY

# 2. equilibrate with the cheaper GFN1-xTB: Langevin 350 K, strong friction (20/ps), 0.5 ps
surrogate generate --system start.extxyz --ase-calculator tblite.ase:TBLite \
    --calculator-args '{method: GFN1-xTB, verbosity: 0}' --integrator langevin --temperature-K 350 \
    --friction-per-ps 20 --timestep-fs 0.5 --equilibrate-ps 0 --time-ps 0.5 --traj-interval 20 --no-progress \
    --out gfn1-eq

# 3. production with GFN2-xTB from GFN1 frames: Langevin 350 K, friction 5/ps, 0.5 fs, a frame every 4 steps (2 fs)
#    with energy, forces, stress and velocities; checkpoints every 20 steps (--resume continues). Three replicas.
for spec in "gfn2 -1 0" "gfn2-r1 -21 1" "gfn2-r2 -41 2"; do
    set -- $spec
    surrogate generate --system gfn1-eq/trajectory.extxyz --frame "$2" --ase-calculator tblite.ase:TBLite \
        --calculator-args '{method: GFN2-xTB, verbosity: 0}' --integrator langevin --temperature-K 350 \
        --friction-per-ps 5 --timestep-fs 0.5 --equilibrate-ps 0 --time-ps "$TIME_PS" --traj-interval 4 \
        --checkpoint-interval 20 --seed "$3" --no-progress --out "$1" > "$1.log" 2>&1 &
done
wait

python3 ../snapshot.py . --out ..
echo "wrote trajectory.extxyz, training.extxyz, thermo.csv, run_info.json, config.yaml"
