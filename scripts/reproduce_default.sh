#!/usr/bin/env bash
# One command that rebuilds the shipped default from ../shared/data: face crops, landmarks, face-swap stages
# 1 to 4, the generated-face head (StyleGAN, then three generators with its leave-one-generator-out folds), and the held-out evaluation. Steps already done are skipped and an interrupted training resumes (last.pt),
# so re-run it freely. Stage 1 wants a GPU (2.5 min on an H200; hours on a CPU); the rest runs on a CPU
# (stages 2, 3 and 4: 73, ~50 and ~35 min on 2 cores; the generated head 46 min, carried over to stage 4 ~20,
# on three generators ~25, each fold ~25).
#   scripts/reproduce_default.sh [DATA]      # DATA defaults to ../shared/data
set -euo pipefail
DATA=${1:-../shared/data}
[ -f data/ffpp_faces/index.csv ] || flashivy faces "$DATA/ffpp_c23" -o data/ffpp_faces
[ -f data/dfdc_faces/index.csv ] || flashivy faces "$DATA/dfdc_faces" -o data/dfdc_faces
[ -f data/ffpp_faces/landmarks.npz ] || flashivy blend data/ffpp_faces --landmarks
[ -f data/dfdc_faces/landmarks.npz ] || flashivy blend data/dfdc_faces --landmarks
[ -f data/synthetic_faces/index.csv ] || flashivy faces "$DATA/synthetic_faces" -o data/synthetic_faces
[ -f data/synthetic_faces/landmarks.npz ] || flashivy blend data/synthetic_faces --landmarks
[ -f data/diffusion_faces/index.csv ] || flashivy faces "$DATA/diffusion_faces" -o data/diffusion_faces
# Stages 1 and 2 train on FF++ Deepfakes and DFDC only (their recipes exclude Face2Face); stage 3 adds it.
[ -f runs/default_stage1/report.json ] || flashivy train --config configs/default_stage1.json
[ -f runs/default_stage2/report.json ] || flashivy train --config configs/default_stage2.json
[ -f runs/default_stage3/report.json ] || flashivy train --config configs/default_stage3.json
# The generated-face head on stage 3's frozen trunk; stage 4 adds FFHQ photos as real (its split is the head's);
# the head is then carried over to stage 4, whose trunk stayed frozen: runs/default_heads is the shipped default.
[ -f runs/generated/report.json ] || flashivy train-kind configs/generated.json
[ -f runs/default/report.json ] || flashivy train --config configs/default.json
[ -f runs/default_heads/report.json ] || flashivy train-kind configs/default_heads.json
# The head on three generators (the shipped default), from that one; first the folds its record quotes:
# SD 2.1 and FLUX left out by the same recipe, StyleGAN left out by the block-2 fold from scratch (docs/generated.md).
[ -f runs/generated_without_sd21/report.json ] || flashivy train-kind configs/default_generated.json --unseen-methods stable-diffusion-2.1 --out runs/generated_without_sd21
[ -f runs/generated_without_flux/report.json ] || flashivy train-kind configs/default_generated.json --unseen-methods flux.1-dev+lora --out runs/generated_without_flux
[ -f runs/generated_without_stylegan/report.json ] || flashivy train-kind configs/default_generated.json --unseen-methods "StyleGAN (140k fake set)" \
  --init "" --branch-at 2 --epochs 5 --lr 1e-3 --max-photos-called 0 --out runs/generated_without_stylegan
[ -f runs/default_generated/report.json ] || flashivy train-kind configs/default_generated.json
for run in default_heads default_generated; do
  flashivy evaluate "$DATA/ffpp_c23" --source ffpp --checkpoint runs/$run/best.safetensors --exclude runs/default_generated/splits.json --out runs/$run/eval_ffpp
  flashivy evaluate data/dfdc_faces --source dfdc --checkpoint runs/$run/best.safetensors --exclude runs/default_generated/splits.json --out runs/$run/eval_dfdc
done
for run in default_heads default_generated; do
  for set in synthetic diffusion; do
    flashivy evaluate "$DATA/${set}_faces" --images --source $set --exclude runs/default_generated/splits.json \
      --perturb jpeg=70,downscale=2 --checkpoint runs/$run/best.safetensors --out runs/$run/eval_$set
  done
done
# Face2Face never seen: the stage-2 model, on the FF++ groups it did not train on
flashivy protocol --checkpoint runs/default_stage2/best.safetensors --splits runs/default_stage2/splits.json --columns face2face
