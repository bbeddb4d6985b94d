"""Finding videos on disk and labelling them from the folder layout.

Understands the official FaceForensics++ layout written by the downloader
(``original_sequences/<kind>/<c>/videos`` is real,
``manipulated_sequences/<Method>/<c>/videos`` is fake) and plain
``real/`` / ``fake/`` folders. Each video gets a unique id and a *group*: the
unit that train/validation splits must never cut through.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .video import VIDEO_SUFFIXES

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
GROUPS_FILE = "metadata.csv"  # path,label and a group column: group, or DFDC's source_video


@dataclass(frozen=True)
class MediaItem:
    """A video or image file with what the layout says about it."""

    path: Path
    label: str | None  # "real", "fake" or None when the layout does not say
    method: str  # "original", a manipulation method such as "Deepfakes", or ""
    video: str  # unique id, used in crop file names
    group: str  # split unit: FF++ pair component, else the video id


def label_from_path(path: Path) -> tuple[str | None, str]:
    """``(label, method)`` read from the folder names of ``path``."""
    parts = path.parts
    if "manipulated_sequences" in parts:
        i = parts.index("manipulated_sequences")
        return "fake", parts[i + 1] if i + 1 < len(parts) - 1 else ""
    if "original_sequences" in parts:
        return "real", "original"
    lowered = [p.lower() for p in parts[:-1]]
    for label in ("real", "fake"):
        if label in lowered:
            return label, ""
    return None, ""


def _ffpp_ids(stem: str) -> list[str]:
    """FF++ ids in a file stem: ``"033"`` -> [033], ``"033_097"`` -> [033, 097]."""
    ids = stem.split("_")
    return ids if all(i.isdigit() for i in ids) else []


def target_video(stem: str) -> str:
    """The video a manipulated one was made from: FF++'s target id (``"033_097"`` -> ``"033"``, the
    video whose frames were altered); any other stem is its own."""
    ids = _ffpp_ids(stem)
    return ids[0] if ids else stem


def group_ids(stems: list[str]) -> dict[str, str]:
    """Map each stem to its split group.

    FF++ names are joined through their ids: ``033``, ``097``, ``033_097`` and
    ``097_033`` share faces, so they form one group (named by its smallest id).
    Anything else is its own group.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for stem in stems:
        ids = _ffpp_ids(stem)
        for other in ids[1:]:
            a, b = find(ids[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups = {}
    for stem in stems:
        ids = _ffpp_ids(stem)
        groups[stem] = find(ids[0]) if ids else stem
    return groups


def video_id(stem: str, method: str) -> str:
    """Unique id: FF++ manipulated videos are prefixed with their method."""
    return f"{method}_{stem}" if method and method != "original" else stem


def listed_metadata(root: Path) -> dict[str, tuple[str, str]]:
    """``{relative path: (group, generator)}`` from a ``metadata.csv`` beside the files, if there is one: its
    ``group`` column (diffusion_faces: one person, or one prompt code), else DFDC's ``source_video``; and its
    ``generator`` column (which model made a generated face: the method of a leave-one-generator-out test)."""
    import csv

    meta = root / GROUPS_FILE
    if not meta.is_file():
        return {}
    with open(meta, newline="", encoding="utf-8") as fh:
        rows = [(row.get("path"), row.get("group") or row.get("source_video") or "", row.get("generator") or "")
                for row in csv.DictReader(fh)]
    return {path: (group, generator) for path, group, generator in rows if path}


def find_media(root: str | Path, suffixes: set[str] = VIDEO_SUFFIXES | IMAGE_SUFFIXES) -> list[MediaItem]:
    """Video and image files under ``root`` (or ``root`` itself), sorted, labelled and grouped.

    Groups come from a ``metadata.csv`` beside the files when present (DFDC:
    a fake stays with the real video it was made from), else from FF++ ids; a fake's method is the
    generator that file names, when it names one.
    """
    root = Path(root)
    if root.is_file():
        paths = [root]
    else:
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    labelled = [(p, *label_from_path(p)) for p in paths]
    groups = group_ids([p.stem for p, _, _ in labelled])
    listed = {} if root.is_file() else listed_metadata(root)
    items = []
    for p, label, method in labelled:
        group, generator = listed.get(p.relative_to(root).as_posix(), ("", "")) if listed else ("", "")
        items.append(MediaItem(path=p, label=label, method=generator if label == "fake" and generator else method,
                               video=video_id(p.stem, method), group=group or groups[p.stem]))
    return items


def find_videos(root: str | Path) -> list[MediaItem]:
    """Video files only (see :func:`find_media`)."""
    return find_media(root, VIDEO_SUFFIXES)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
