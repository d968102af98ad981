#!/usr/bin/env bash
# i-PI NVE driven by an exported EGNN (issue #14). From this folder, with a trained model egnn-model/best.pt:
#   surrogate export ../../egnn-model/best.pt --format metatomic -o model-mta.pt
#   bash run.sh
# i-PI is the server (integrates, writes simulation.out and simulation.pos_0.xyz); i-pi-driver-py is the client
# that evaluates the metatomic model (forces and virial by autograd of its energy) over the UNIX socket
# /tmp/ipi_surrogate-mta. The driver's `template` gives the atomic numbers, `model` the exported file.
set -euo pipefail
cd "$(dirname "$0")"
python make_init.py
i-pi input.xml > i-pi.log &
IPI=$!
trap 'kill $IPI 2>/dev/null || true' EXIT
while [ ! -S /tmp/ipi_surrogate-mta ]; do sleep 0.2; done   # wait for i-PI's socket
i-pi-driver-py -u -a surrogate-mta -m metatomic -o template=init.extxyz,model=model-mta.pt,device=cpu
wait $IPI
