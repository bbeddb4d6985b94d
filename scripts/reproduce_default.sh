#!/usr/bin/env bash
# One command that rebuilds the shipped default from ../shared/data: face crops, stage 1, stage 2.
# Steps already done are skipped and an interrupted training resumes (last.pt), so re-run it freely.
# Stage 1 wants a GPU (2.5 min on an H200; hours on a CPU); stage 2 runs on a CPU (73 min on 2 cores).
#   scripts/reproduce_default.sh [DATA]      # DATA defaults to ../shared/data
set -euo pipefail
DATA=${1:-../shared/data}
[ -f data/ffpp_faces/index.csv ] || flashivy faces "$DATA/ffpp_c23" -o data/ffpp_faces
[ -f data/dfdc_faces/index.csv ] || flashivy faces "$DATA/dfdc_faces" -o data/dfdc_faces
[ -f runs/default_stage1/report.json ] || flashivy train --config configs/default_stage1.json
[ -f runs/default/report.json ] || flashivy train --config configs/default.json
flashivy evaluate "$DATA/ffpp_c23" --source ffpp --checkpoint runs/default/best.safetensors --exclude runs/default/splits.json --out runs/default/eval_ffpp
flashivy evaluate data/dfdc_faces --source dfdc --checkpoint runs/default/best.safetensors --exclude runs/default/splits.json --out runs/default/eval_dfdc
