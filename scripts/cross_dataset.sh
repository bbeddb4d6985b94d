#!/usr/bin/env bash
# The cross-dataset proxy of issue 5, on the CPU: train on one source, test on the other, without and with
# self-blended pseudo-fakes (mixed with the real fakes, or alone). Short runs (3 x 2048 samples): a
# comparison of recipes, not a replacement for the GPU-trained default.
#   scripts/cross_dataset.sh data/ffpp_faces data/dfdc_faces ../shared/data/ffpp_c23 runs/cross
# Needs `flashivy blend CROPS --landmarks` on both crop folders. DFDC is tested on the crops whose
# source videos stage 1 of the shipped default never saw (its splits.json, $EXCLUDE), FF++ on all 60 raw videos.
set -euo pipefail
FFPP=${1:?ffpp crops} DFDC=${2:?dfdc crops} VIDEOS=${3:?ffpp video root} OUT=${4:-runs/cross}
EXCLUDE=${EXCLUDE:-runs/default_stage1/splits.json}
mkdir -p "$OUT"
cat > "$OUT/recipe.json" <<JSON
{"model": "efficientnet_lite0", "epochs": 3, "samples_per_epoch": 2048, "batch_size": 32, "workers": 1,
 "device": "cpu", "max_val_per_source": 800, "patience": 3}
JSON
for train in ffpp dfdc; do
  data=$([ $train = ffpp ] && echo "$FFPP" || echo "$DFDC")
  for arm in plain sbi sbi_only; do
    run="$OUT/${train}_$arm"
    case $arm in
      plain) extra=() ;;
      sbi) extra=(--self-blend 0.33) ;;               # pseudo-fakes mixed with the real fakes
      sbi_only) extra=(--self-blend 0.5 --reals-only) ;;  # pseudo-fakes alone: no fake crop in training
    esac
    [ -f "$run/report.json" ] || flashivy train --config "$OUT/recipe.json" --data "$train=$data" --out "$run" "${extra[@]}"
    [ -f "$run/cross_$([ $train = ffpp ] && echo dfdc || echo ffpp)/report.json" ] && continue
    flashivy export "$run/best.safetensors" >/dev/null
    if [ $train = ffpp ]; then
      flashivy evaluate "$DFDC" --source dfdc --checkpoint "$run/best.safetensors" --exclude "$EXCLUDE" \
        --out "$run/cross_dfdc" > /dev/null
    else
      flashivy evaluate "$VIDEOS" --source ffpp --checkpoint "$run/best.safetensors" --out "$run/cross_ffpp" > /dev/null
    fi
  done
done
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
print(f"{'train on':<10}{'recipe':<8}{'in-dataset test AUC':>21}{'cross frame AUC':>17}{'cross video AUC':>17}")
for train, other in (("ffpp", "dfdc"), ("dfdc", "ffpp")):
    for arm in ("plain", "sbi", "sbi_only"):
        run = out / f"{train}_{arm}"
        inside = json.loads((run / "report.json").read_text())["test"][train]["auc"]
        cross = json.loads((run / f"cross_{other}" / "report.json").read_text())
        video = cross.get("video_verdicts", {}).get("auc")
        print(f"{train:<10}{arm:<8}{inside:>21.4f}{cross['all']['auc']:>17.4f}{'' if video is None else format(video, '.4f'):>17}")
PY
