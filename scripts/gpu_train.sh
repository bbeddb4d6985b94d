#!/usr/bin/env bash
# The lent-GPU run that trains the shipped default and the v1 baseline (see models/README.md).
# Expects packed crops in carry/ (scripts/pack_crops.py) and writes everything to $OUT.
set -uo pipefail
export PYTHONPATH="$PWD/carry/site:$PWD" TQDM_DISABLE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}
W=${WORKERS:-14}
python3 -m flashivy check-cuda
python3 -m flashivy train --config configs/default.json --data ffpp=carry/ffpp --data dfdc=carry/dfdc \
  --out "$OUT/default" --workers "$W" --time-limit "${DEFAULT_MIN:-3.5}" 2>&1 | tee "$OUT/default.log" | grep -v '^{"train"'
python3 scripts/gpu_throughput.py "$OUT/default/best.safetensors" | tee "$OUT/throughput.json"
python3 -m flashivy train --config configs/baseline.json --data ffpp=carry/ffpp --data dfdc=carry/dfdc \
  --out "$OUT/baseline" --workers "$W" --time-limit "${BASELINE_MIN:-1.5}" 2>&1 | tee "$OUT/baseline.log" | grep -v '^{"train"'
rm -f "$OUT"/*/last.pt
ls -la "$OUT"/*
