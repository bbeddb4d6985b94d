"""The generalization protocol: leave one manipulation method (or one dataset) out of training, test on it.

In-distribution accuracy is a poor guide to the fakes users meet, so recipes are chosen by the
*unseen* columns here. Each column is a training run of a recipe with something held back, then a
score on exactly what was held back:

- ``face2face`` / ``deepfakes``: FF++ and DFDC without that FF++ method (neither trained nor chosen
  by); scored on that method's videos against the real videos of the FF++ groups the run did not
  train on (video AUC from the mean fake probability of each video's faces).
- ``ffpp_to_dfdc`` / ``dfdc_to_ffpp``: one dataset alone; scored on every crop (frame AUC) or video
  (video AUC) of the other.

A recipe that starts from a checkpoint (``init``) can only measure what that checkpoint never saw:
its metadata must say which sources and methods it trained on, and a column it has seen is refused.
Each run is a fixed budget whose last epoch is scored (``keep: last``): choosing the epoch by
in-distribution validation would be choosing by the in-dataset column. Runs resume (``last.pt``) and
finished columns are not run again.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.atomic import write_text_atomic
from ..core.errors import ConfigError, InputError
from ..datasets.samples import load_source, read_splits


@dataclass(frozen=True)
class Column:
    title: str
    train_sources: tuple[str, ...]  # the recipe's sources this run trains on
    exclude_methods: tuple[str, ...]  # FF++ methods left out of train and val
    test_source: str  # whose data is scored
    test_method: str | None  # only this fake method (with the reals); None: every fake
    level: str  # the figure the column reports: "video" or "frame" AUC


COLUMNS: dict[str, Column] = {
    "face2face": Column("Face2Face unseen (FF++ video AUC)", ("ffpp", "dfdc"), ("Face2Face",), "ffpp", "Face2Face",
                        "video"),
    "deepfakes": Column("FF++ Deepfakes unseen (video AUC)", ("ffpp", "dfdc"), ("Deepfakes",), "ffpp", "Deepfakes",
                        "video"),
    "ffpp_to_dfdc": Column("FF++ -> DFDC (frame AUC)", ("ffpp",), (), "dfdc", None, "frame"),
    "dfdc_to_ffpp": Column("DFDC -> FF++ (video AUC)", ("dfdc",), (), "ffpp", None, "video"),
}


def seen_by(meta: dict) -> dict[str, set[str]]:
    """``{source: fake methods}`` a checkpoint trained on, or chose its epoch by ("*" where its fakes' methods
    are unrecorded; an empty set: that source's reals only). Validation counts only where it chose: a run
    that kept its last epoch (``keep: last``) was never steered by what it validated on."""
    seen: dict[str, set[str]] = {}
    # a fused model (flashivy.training.fuse): its members saw their own data, and the faces they were calibrated on
    records = [meta, *meta.get("members", {}).values()]
    for record in records:
        chose = record.get("recipe", {}).get("keep", "best") == "best"
        parts = [record.get("data", {}).get(part, {}) for part in (("train", "val") if chose else ("train",))]
        for data in parts + [record.get("calibration", {}).get("data", {})]:
            for source, labels in data.items():
                fake = labels.get("fake", {})
                methods = set(fake.get("methods", {})) or ({"*"} if fake.get("crops") else set())
                seen.setdefault(source, set()).update(methods)
    return seen


def check_unseen(checkpoint: str | Path, column: Column) -> None:
    """Refuse a checkpoint that already saw what ``column`` holds out."""
    from ..models.checkpoint import read_metadata

    seen = seen_by(read_metadata(checkpoint))
    if column.test_method is None:  # a held-out dataset: seen if any of its fakes were (its reals: see splits)
        clash = bool(seen.get(column.test_source))
    else:
        methods = seen.get(column.test_source, set())
        clash = column.test_method in methods or "*" in methods
    if clash:
        raise ConfigError(f"{checkpoint}: was trained on {column.test_source} {column.test_method or 'data'}, "
                        f"so it cannot measure '{column.title}'")


def column_config(recipe, name: str, out_root: Path):
    """The recipe with this column's data held back, in its own run folder."""
    column = COLUMNS[name]
    missing = [s for s in column.train_sources + (column.test_source,) if s not in recipe.sources]
    if missing:
        raise ConfigError(f"column {name} needs the sources {missing} in the recipe")
    if recipe.init:
        check_unseen(recipe.init, column)
    # A fixed budget, last epoch kept: validation is in-distribution and must not pick what is scored unseen.
    return replace(recipe, sources={k: v for k, v in recipe.sources.items() if k in column.train_sources},
                   exclude_methods=sorted(set(recipe.exclude_methods) | set(column.exclude_methods)),
                   out=str(out_root / name), keep="last")


def scored_samples(sources: dict, column: Column) -> list:
    """The test source's reals and its fakes of the held-back method (every fake for a held-back dataset)."""
    paths = sources[column.test_source]
    samples = [s for path in ([paths] if isinstance(paths, str) else paths)
               for s in load_source(path, column.test_source)]
    return [s for s in samples if s.label == 0 or column.test_method in (None, s.method)]


def score_column(checkpoint: Path, samples: list, column: Column, splits: list[Path],
                 batch_size: int = 32) -> dict:
    """The column's result for a checkpoint on face crops (calibrated probabilities, frame and video reports).

    With ``splits`` (a run's splits.json; a fused model's: one for each run behind it), only the groups no
    run trained on count (the held-back method was never in their validation either). ``all_fakes`` adds
    every fake of the held-back method, those of trained groups too, against the same reals: more videos,
    but their targets' real videos were trained on.
    """
    from tqdm import tqdm

    from ..evaluation.metrics import binary_report
    from ..inference.detector import Detector
    from ..media.images import load_image

    trained = {g for path in splits for g, part in read_splits(path).items() if part == "train"}
    fresh = np.array([f"{s.source}:{s.group}" not in trained for s in samples])
    if len({s.label for s, f in zip(samples, fresh) if f}) < 2:
        raise InputError(f"column {column.title}: the held-out part has no real or no fake sample to score")
    detector = Detector.from_checkpoint(checkpoint, batch_size=batch_size)
    probs: list[float] = []
    for i in tqdm(range(0, len(samples), batch_size), desc="score held-out", file=sys.stderr, dynamic_ncols=True):
        probs += detector.score_crops([load_image(s.path) for s in samples[i:i + batch_size]]).tolist()
    labels, probs = np.array([s.label for s in samples]), np.array(probs)
    videos = np.array([s.video for s in samples])

    def report(keep):
        return binary_report(labels[keep], probs[keep], videos[keep].tolist(), detector.threshold)

    out = {"title": column.title, "level": column.level, "checkpoint": str(checkpoint), "report": report(fresh)}
    out["auc"] = _auc(out["report"], column.level)
    if trained:  # every fake it never saw (a reals-only model saw none), against the same held-out reals
        out["all_fakes"] = report(fresh | (labels == 1))
    return out


def _run(results_path: Path, columns: list[str], one) -> dict:
    """Fill ``results_path`` column by column with ``one(name)``; finished columns are kept, not redone."""
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for name in columns:
        if name not in COLUMNS:
            raise ConfigError(f"unknown column {name!r}: choose from {', '.join(COLUMNS)}")
        if name not in results:
            results[name] = one(name)
            results_path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(results_path, json.dumps(results, indent=2))
    return results


def run_recipe(recipe_path: str | Path, columns: list[str], out: str | Path) -> dict:
    """Train (or resume) one run of the recipe per column and score it; ``out/<recipe>/results.json``."""
    from .train import TrainConfig, train

    recipe = TrainConfig.from_file(recipe_path)
    out_root = Path(out) / Path(recipe_path).stem

    def one(name: str) -> dict:
        cfg = column_config(recipe, name, out_root)
        print(f"protocol: {out_root.name} / {name}", file=sys.stderr)
        train(cfg)
        run = Path(cfg.out)
        return score_column(run / "best.safetensors", scored_samples(recipe.sources, COLUMNS[name]), COLUMNS[name],
                            [run / "splits.json"])

    return _run(out_root / "results.json", columns, one)


def score_checkpoint(checkpoint: str | Path, splits: list[str | Path], sources: dict, columns: list[str],
                     out: str | Path) -> dict:
    """An existing model on the columns it never saw (``splits``: the splits.json of each run behind it).

    Writes ``out/<name>/results.json``."""
    checkpoint = Path(checkpoint)

    def one(name: str) -> dict:
        check_unseen(checkpoint, COLUMNS[name])
        return score_column(checkpoint, scored_samples(sources, COLUMNS[name]), COLUMNS[name],
                            [Path(p) for p in splits])

    return _run(Path(out) / checkpoint_name(checkpoint) / "results.json", columns, one)


def checkpoint_name(checkpoint: Path) -> str:
    """A run's ``best.safetensors`` is named by its run folder, any other checkpoint by its file."""
    return checkpoint.parent.name if checkpoint.stem == "best" else checkpoint.stem


def _auc(report: dict, level: str) -> float | None:
    return report["video"]["auc"] if level == "video" else report["auc"]


def table(results_by_recipe: dict[str, dict]) -> str:
    """Markdown: one row per recipe, one column per protocol column."""
    names = [n for n in COLUMNS if any(n in r for r in results_by_recipe.values())]
    lines = ["| recipe | " + " | ".join(COLUMNS[n].title for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for recipe, results in results_by_recipe.items():
        cells = []
        for n in names:
            r = results.get(n)
            cells.append("" if r is None else f"{r['auc']:.3f} (n={_n(r)})")
        lines.append(f"| {recipe} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _n(result: dict) -> str:
    rep = result["report"]["video"] if result["level"] == "video" else result["report"]
    return f"{rep['n_real']}+{rep['n_fake']}"
