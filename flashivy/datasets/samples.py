"""Training data on disk: face-crop samples from indexes or v1 folders, and splits by group.

A *group* is the unit that never straddles train and validation: an FF++
pair component, a DFDC source video. Splits are by group, never by frame.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError, InputError
from ..media.layout import group_ids, listed_metadata

LABELS = ("real", "fake")  # class order: index 1 is "fake", the positive class


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 real, 1 fake
    video: str
    group: str
    source: str  # which dataset it came from, e.g. "ffpp" or "dfdc"
    method: str = ""


def load_source(root: str | Path, source: str | None = None) -> list[Sample]:
    """Face crops under ``root``: a crop index (``index.csv``) or v1's ``{real,fake}/<video>_<frame>.jpg``."""
    from .crops import INDEX_NAME, read_index

    root = Path(root)
    source = source or root.name
    index = root / INDEX_NAME if root.is_dir() else root
    if index.is_file() and index.suffix == ".csv":
        base = index.parent
        return [Sample(base / r.path, LABELS.index(r.label), r.video, r.group, source, r.method)
                for r in read_index(index) if r.path and r.label in LABELS]
    files = [(p, label) for label in LABELS for p in sorted((root / label).glob("*.jpg"))] if root.is_dir() else []
    if not files:
        raise InputError(f"{root}: no crop index and no {{real,fake}}/*.jpg face crops")
    videos = [p.stem.rsplit("_", 1)[0] for p, _ in files]
    groups = group_ids(videos)
    listed = listed_metadata(root)  # a metadata.csv beside the images: their groups and generators
    samples = []
    for (p, label), v in zip(files, videos):
        group, generator = listed.get(p.relative_to(root).as_posix(), ("", ""))
        samples.append(Sample(p, LABELS.index(label), v, group or groups[v], source,
                              generator if label == "fake" else ""))
    return samples


def group_rank(group: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{group}".encode()).hexdigest()


def rank_cut(fraction: float) -> str:
    """Hex threshold so that ``group_rank(g) < cut`` keeps about ``fraction`` of the groups."""
    return "f" * 40 + "~" if fraction >= 1 else f"{int(fraction * 16**8):08x}"


def split_by_group(samples: list[Sample], val_fraction: float = 0.2, seed: int = 0,
                   ) -> tuple[list[Sample], list[Sample]]:
    """Train/validation split by group, stratified by source and label.

    Within each source, the groups of real and of fake samples are ordered by
    a seeded hash and the first ``val_fraction`` of each go to validation (at least one of a cell of
    two or more); a group holding both labels goes where its first label put it.
    """
    val_groups: set[tuple[str, str]] = set()
    by_key: dict[tuple[str, int], set[str]] = {}
    for s in samples:
        by_key.setdefault((s.source, s.label), set()).add(s.group)
    decided: set[tuple[str, str]] = set()
    for (source, _label), groups in sorted(by_key.items()):
        fresh = sorted((g for g in groups if (source, g) not in decided), key=lambda g: group_rank(g, seed))
        n_val = round(len(groups) * val_fraction)
        if val_fraction > 0 and n_val == 0 and len(groups) >= 2:
            n_val = 1  # a cell of a few groups (three people) still puts one aside, else the split holds none
        already = sum((source, g) in val_groups for g in groups)
        for g in fresh[:max(0, n_val - already)]:
            val_groups.add((source, g))
        decided.update((source, g) for g in groups)
    train = [s for s in samples if (s.source, s.group) not in val_groups]
    val = [s for s in samples if (s.source, s.group) in val_groups]
    return train, val


def cap_per_source(samples: list[Sample], per_source: int, seed: int, whole_groups: bool = True) -> list[Sample]:
    """At most ``per_source`` samples of each source (to bound validation's cost): whole groups, chosen by a
    fixed hash of the group (``whole_groups``), or single samples drawn at random."""
    out, rng = [], np.random.default_rng(seed)
    for source in sorted({s.source for s in samples}):
        mine = [s for s in samples if s.source == source]
        if not whole_groups:
            keep = sorted(rng.choice(len(mine), min(per_source, len(mine)), replace=False))
            out += [mine[i] for i in keep]
        elif len(mine) <= per_source:
            out += mine
        else:
            groups = sorted({s.group for s in mine}, key=lambda g: group_rank(g, seed))
            keep = set(groups[: max(1, int(len(groups) * per_source / len(mine)))])
            out += [s for s in mine if s.group in keep]
    return out


def read_splits(path: str | Path, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """A run's ``splits.json`` as ``"source:group"`` -> ``"train"`` / ``"val"`` / ``"test"``, its source names
    put as ``aliases`` says (two runs may name one crop folder differently: the self-blending run's ``ffhq``
    is the default's ``synthetic``)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: splits file not found")
    splits = json.loads(path.read_text())
    return {_renamed(g, aliases or {}): part for part in ("train", "val", "test") for g in splits.get(part, [])}


def _renamed(key: str, aliases: dict[str, str]) -> str:
    source, _, group = key.partition(":")
    return f"{aliases.get(source, source)}:{group}"


def parse_aliases(specs: list[str]) -> dict[str, str]:
    """``["ffhq=synthetic"]`` -> ``{"ffhq": "synthetic"}`` (a splits file's source name -> ours)."""
    if bad := [s for s in specs if "=" not in s]:
        raise ConfigError(f"--alias wants THEIRS=OURS, got {', '.join(bad)}")
    return dict(s.split("=", 1) for s in specs)


def split_by_official_lists(samples: list[Sample], split_dir: str | Path) -> dict[str, list[Sample]]:
    """Use FF++'s official ``train.json`` / ``val.json`` / ``test.json`` (lists of [target, source] ids).

    A video goes where its ids are listed (val and test win over train); ids in no list go to train.
    """
    split_dir = Path(split_dir)
    where: dict[str, str] = {}
    for name in ("train", "val", "test"):
        path = split_dir / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"{path}: official split file not found")
        for pair in json.loads(path.read_text()):
            for vid in pair:
                where[str(vid)] = name if where.get(str(vid)) in (None, "train") else where[str(vid)]
    parts: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for s in samples:
        stem = bare_video(s)
        names = {where.get(i, "train") for i in stem.split("_")}
        parts["test" if "test" in names else "val" if "val" in names else "train"].append(s)
    return parts


def bare_video(s: Sample) -> str:
    """The video's name without the method prefix some layouts give it (``Deepfakes_033_097`` -> ``033_097``)."""
    return s.video[len(s.method) + 1:] if s.method and s.video.startswith(s.method + "_") else s.video


def describe(samples: list[Sample]) -> dict:
    """Counts per source and label, with groups and (for fakes) manipulation methods: the data
    summary stored in checkpoints, so a model says which kinds of fakes it was trained on."""
    out: dict = {}
    for (source, label), n in sorted(Counter((s.source, LABELS[s.label]) for s in samples).items()):
        mine = [s for s in samples if s.source == source and LABELS[s.label] == label]
        out.setdefault(source, {})[label] = {"crops": n, "groups": len({s.group for s in mine})}
        methods = Counter(s.method for s in mine if s.method and s.method != "original")
        if label == "fake" and methods:
            out[source][label]["methods"] = dict(sorted(methods.items()))
    return out
