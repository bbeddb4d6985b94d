"""Rebuild the splits.json of every run behind the shipped default, from its recipes, without training.

A split is a fixed hash of each group, and each stage keeps the groups of the one
before it, so the chain of recipes gives back the groups each run trained,
validated and was tested on. A recipe that extends the shipped model (e.g.
configs/default_generated.json) needs ``runs/default_heads/splits.json``; the shipped default's own groups
(its generated head's, on three generators) are ``runs/default_generated/splits.json``:
    python scripts/default_splits.py            # writes runs/<stage>/splits.json
It reads the crops those recipes name (data/ffpp_faces, dfdc_faces, synthetic_faces, diffusion_faces:
the crop lines of scripts/reproduce_fused.sh make them).
The face-swap model's counts, and its generated head's, are checked against those the shipped checkpoint
recorded when they were trained.
"""
import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from flashivy.core.atomic import write_text_atomic
from flashivy.core.errors import InputError
from flashivy.datasets.samples import describe
from flashivy.models.checkpoint import DEFAULT_CHECKPOINT, read_metadata
from flashivy.training.recipe import KindConfig, TrainConfig
from flashivy.training.train import run_data
from flashivy.training.train_kind import kind_splits

# (recipe, the key naming the previous run's splits), in the order they were trained
CHAIN = [("default_stage1", "splits"), ("default_stage2", "splits"), ("default_stage3", "splits"),
         ("generated", "base_splits"), ("default", "splits"), ("default_heads", "base_splits"),
         ("default_generated", "base_splits")]


def counts(summary: dict) -> dict:
    """Crops and groups per split, source and label (generator names came later: not compared)."""
    return {split: {src: {lab: (c["crops"], c["groups"]) for lab, c in labs.items()} for src, labs in part.items()}
            for split, part in summary.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", type=Path, default=Path("configs"))
    args = p.parse_args()
    previous, recorded = "", read_metadata(DEFAULT_CHECKPOINT)["data"]
    for name, key in CHAIN:
        path = args.configs / f"{name}.json"
        if key == "splits":
            cfg = replace(TrainConfig.from_file(path), splits=previous)
            data = run_data(cfg)
            parts = {"train": data.train, "val": data.val, "test": data.test}
            if name == "default" and counts(data.summary) != counts(recorded):
                print(f"{name}: the rebuilt counts differ from the shipped checkpoint's record: other crops than "
                      "it was trained on?", file=sys.stderr)
                return 1
        else:
            cfg = replace(KindConfig.from_file(path), base_splits=previous)
            parts = kind_splits(cfg)
            head = read_metadata(DEFAULT_CHECKPOINT)["kind_training"]["generated"]["data"]
            if name == "default_generated" and counts({k: describe(v) for k, v in parts.items()}) != counts(head):
                print(f"{name}: the rebuilt counts differ from the shipped generated head's record", file=sys.stderr)
                return 1
        previous = str(Path(cfg.out) / "splits.json")
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        write_text_atomic(previous, json.dumps({k: sorted({f"{s.source}:{s.group}" for s in v})
                                                for k, v in parts.items()}))
        print(f"{previous}: " + ", ".join(f"{k} {len(v):,} crops" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:  # a recipe's crops not made yet: say which, as the CLI does
        sys.exit(f"default_splits.py: {err}")
