"""Measure where the model stops being trustworthy: AUC and false positives under blur, small faces and JPEG.

Scores the *validation* crops of a run (its splits.json; the reported test split is never used to set a
threshold), degraded step by step, and prints the table and thresholds behind flashivy/inference/quality.py.

    python scripts/quality_thresholds.py --splits runs/default_stage2/splits.json --out runs/quality
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from flashivy.datasets.samples import load_source, read_splits
from flashivy.evaluation.quality_sweep import (
    SWEEPS,
    plot,
    run_sweep,
    threshold,
    trusted,
)
from flashivy.inference.detector import Detector
from flashivy.media.images import load_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    ap.add_argument("--splits", type=Path, required=True, help="the run whose val groups are measured")
    ap.add_argument("--data", action="append", default=None, metavar="NAME=PATH",
                    help="crop folders (default ffpp=data/ffpp_faces, dfdc=data/dfdc_faces)")
    ap.add_argument("--per-source", type=int, default=800, help="at most this many crops per source and label")
    ap.add_argument("--out", type=Path, default=Path("runs/quality"))
    args = ap.parse_args()

    where = read_splits(args.splits)
    rng = np.random.default_rng(0)
    samples = []
    for pair in args.data or ["ffpp=data/ffpp_faces", "dfdc=data/dfdc_faces"]:
        name, _, path = pair.partition("=")
        val = [s for s in load_source(path, name) if where.get(f"{name}:{s.group}") == "val"]
        for label in (0, 1):
            mine = [s for s in val if s.label == label]
            samples += [mine[i] for i in sorted(rng.choice(len(mine), min(args.per_source, len(mine)), False))]
    detector = Detector.from_checkpoint(args.checkpoint, batch_size=32)
    crops = [load_image(s.path) for s in samples]
    labels = np.array([s.label for s in samples])
    print(f"{len(samples)} validation crops ({(labels == 0).sum()} real, {(labels == 1).sum()} fake)")
    results, thresholds = {}, {}
    for name, sweep in SWEEPS.items():
        rows = run_sweep(detector, crops, labels, sweep)
        ok = trusted(rows)
        results[name], thresholds[name] = rows, threshold(rows, ok)
        print(f"\n{name}: level | {sweep.name} | AUC | real called fake | fake called real | trusted")
        for r, good in zip(rows, ok):
            print(f"  {r['level']:g} | {r['figure']:.1f} | {r['auc']:.3f} | {r['fpr']:.3f} | {r['fnr']:.3f} | "
                  f"{'yes' if good else 'NO'}")
        print(f"  threshold on {sweep.name}: {thresholds[name]}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps({"n": len(samples), "sweeps": results,
                                                       "thresholds": thresholds}, indent=2))
    plot(results, args.out / "quality.png")
    print(f"\nwrote {args.out}/quality.json and quality.png")


if __name__ == "__main__":
    main()
