#!/usr/bin/env bash
# Train every model of benchmarks/lstm_operator.py in parallel on one GPU machine.
# Usage: bash benchmarks/lstm_train_device.sh MODELS_DIR BUDGET_S
set -u
models=${1:-runs/lstm_models}; budget=${2:-420}
mkdir -p "$models"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=4
dev=cpu; python -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" && dev=cuda
names="harmonic_100 harmonic_400 harmonic_1000 harmonic_4000 double_well_100 double_well_400 double_well_1000 double_well_4000 lj16 manybody"
for n in $names; do
  timeout "$budget" python benchmarks/lstm_operator.py --train-only --only "$n" --models "$models" --device "$dev" \
    > "$models/log_$n.txt" 2>&1 &
done
wait
# A run cut by the budget still left its best model so far.
for d in "$models"/_train_*; do
  n=${d##*/_train_}; [ "$n" = lj16 ] && n=lj16_1000; [ "$n" = manybody ] && n=argon_manybody
  [ -f "$models/$n.pt" ] || { [ -f "$d/best.pt" ] && cp "$d/best.pt" "$models/$n.pt" && echo "$n: budget cut, best so far"; }
done
ls -la "$models"
