#!/usr/bin/env bash
# Issue 27 as one command: the self-blending model (real faces only; stage 2, configs/sbi_imagenet_stage2.json,
# 86-105 min on 2 cores, from the committed stage 1), its protocol row, the default's recipe from ImageNet on the
# protocol's four columns, each column's model fused with the self-blending one (calibrated without the
# column's held-back data) and scored on its column, and the fused default (the shipped model + the
# self-blending one) on the groups no run behind it trained or validated on. Steps already done are skipped
# and a training resumes from last.pt, so re-run it freely (it can be stopped anywhere).
#   scripts/reproduce_fused.sh [DATA]      # DATA defaults to ../shared/data
set -euo pipefail
DATA=${1:-../shared/data}
crops() { [ -f "data/$2/index.csv" ] || flashivy faces "$DATA/$1" -o "data/$2" "${@:3}"
          [ -f "data/$2/landmarks.npz" ] || flashivy blend "data/$2" --landmarks; }
crops ffpp_c23 ffpp_faces128 -n 128
crops ffpp_c23 ffpp_faces
crops dfdc_faces dfdc_faces
crops synthetic_faces synthetic_faces
crops diffusion_faces diffusion_faces
[ -f runs/default_heads/splits.json ] || python scripts/default_splits.py

# in stages of one session each (a machine's run folders may not outlive it): stage 1
# (configs/sbi_imagenet.json) is kept as checkpoints/sbi_imagenet_stage1.safetensors, stage 2 starts from it
SBI=runs/sbi_imagenet_stage2
[ -f $SBI/report.json ] || flashivy train --config configs/sbi_imagenet_stage2.json
# its row: it has seen no fake, so every column is unseen by it
flashivy protocol --checkpoint $SBI/best.safetensors --splits $SBI/splits.json \
    --data ffpp=data/ffpp_faces --data dfdc=data/dfdc_faces
# the default's recipe without each column's data, and that model fused with the self-blending one
flashivy protocol --recipe configs/protocol_default_imagenet.json
COLS=runs/protocol/protocol_default_imagenet
FUSE=(--splits $SBI/splits.json --real-sources ffhq --max-reals-called 0.03)
declare -A CALIBRATE=(  # what the member may be calibrated on: never the column's held-back data
  [face2face]="--data ffpp=data/ffpp_faces128 --data dfdc=data/dfdc_faces --data ffhq=data/synthetic_faces --exclude-method Face2Face"
  [deepfakes]="--data ffpp=data/ffpp_faces128 --data dfdc=data/dfdc_faces --data ffhq=data/synthetic_faces --exclude-method Deepfakes"
  [ffpp_to_dfdc]="--data ffpp=data/ffpp_faces128 --data ffhq=data/synthetic_faces"
  [dfdc_to_ffpp]="--data dfdc=data/dfdc_faces --data ffhq=data/synthetic_faces")
for col in face2face deepfakes ffpp_to_dfdc dfdc_to_ffpp; do
  out=runs/fused_columns/fused_$col.safetensors
  mkdir -p runs/fused_columns
  # shellcheck disable=SC2086  # the calibration flags are words
  [ -f $out ] || flashivy fuse $COLS/$col/best.safetensors $SBI/best.safetensors ${CALIBRATE[$col]} "${FUSE[@]}" -o $out
  flashivy protocol --checkpoint $out --splits $COLS/$col/splits.json --splits $SBI/splits.json --columns $col
done

# the fused default, its tested_on measured on the faces neither the default's runs nor the member's touched
F=runs/fused_default.safetensors
[ -f $F ] || flashivy fuse flashivy/weights/flashivy_default.safetensors $SBI/best.safetensors \
    --data ffpp=data/ffpp_faces128 --data dfdc=data/dfdc_faces --data synthetic=data/synthetic_faces \
    --data diffusion=data/diffusion_faces --alias ffhq=synthetic --alias photos=diffusion \
    --real-sources synthetic,diffusion --splits $SBI/splits.json --max-reals-called 0.03 \
    --held-out-of runs/default_generated/splits.json --held-out-of runs/default_heads/splits.json -o $F
EX=(--exclude runs/default_generated/splits.json --exclude $SBI/splits.json --alias ffhq=synthetic --alias photos=diffusion)
for ckpt in flashivy/weights/flashivy_default.safetensors $F; do
  o=runs/eval_fused/$(basename "$ckpt" .safetensors)
  [ -f $o/ffpp/report.json ] || flashivy evaluate "$DATA/ffpp_c23" --source ffpp --checkpoint "$ckpt" "${EX[@]}" --out $o/ffpp
  [ -f $o/dfdc/report.json ] || flashivy evaluate data/dfdc_faces --source dfdc --checkpoint "$ckpt" "${EX[@]}" --out $o/dfdc
  for set in synthetic diffusion; do  # FFHQ photos; the politicians' (both runs hold out the same person)
    [ -f $o/$set/report.json ] || flashivy evaluate "$DATA/${set}_faces" --images --source $set --checkpoint "$ckpt" \
        "${EX[@]}" --out $o/$set
  done
done
