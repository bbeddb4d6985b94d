"""Frames and face crops on disk: the v1 layouts, the crop index, resumable pipelines.

Layouts (v1-compatible):
  frames: ``FRAMES/{real,fake}/<video>/<frame:05d>.jpg`` plus ``meta.json`` per video
  crops:  ``FACES/{real,fake}/<video>_<frame>.jpg`` plus ``FACES/index.csv``

Every video is finished atomically (frames: a temporary folder renamed into
place; crops: a per-video index part written last), so re-running skips
finished videos and resumes after a kill.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..core.atomic import atomic_path, write_text_atomic
from ..core.errors import InputError, UserError
from ..faces.detectors import DEFAULT_CROP_SIZE, DEFAULT_MARGIN, FaceDetector, crop_face
from ..media.images import load_image, save_image
from ..media.layout import MediaItem, find_media, find_videos, is_image_path
from ..media.video import sample_frames

INDEX_NAME = "index.csv"
PARTS_DIR = ".index"


@dataclass
class CropRecord:
    """One row of the crop index. A frame with no face has ``path == ""`` and ``face == -1``."""

    path: str
    label: str
    video: str
    group: str
    method: str
    frame: int
    face: int
    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    detector: str
    margin: float
    size: int


INDEX_FIELDS = [f.name for f in fields(CropRecord)]


def _label_dir(label: str | None) -> str:
    return label or "unlabelled"


def faces_in_frame(
    frame: np.ndarray,
    detector: FaceDetector,
    all_faces: bool,
) -> list:
    """The faces to crop in one frame: the largest, or all of them largest first."""
    faces = sorted(detector.detect(frame), key=lambda f: f.area, reverse=True)
    return faces if all_faces else faces[:1]


def crop_frame(
    frame: np.ndarray,
    frame_index: int,
    item: MediaItem,
    out_dir: Path,
    detector: FaceDetector,
    margin: float = DEFAULT_MARGIN,
    size: int = DEFAULT_CROP_SIZE,
    all_faces: bool = False,
) -> list[CropRecord]:
    """Detect, crop and save the face(s) of one frame; return their index rows."""
    faces = faces_in_frame(frame, detector, all_faces)
    common = dict(label=_label_dir(item.label), video=item.video, group=item.group, method=item.method,
                  frame=frame_index, detector=detector.name, margin=margin, size=size)
    if not faces:
        return [CropRecord(path="", face=-1, x0=0, y0=0, x1=0, y1=0, score=0.0, **common)]
    rows = []
    for k, face in enumerate(faces):
        suffix = f"_f{k}" if k else ""
        rel = Path(_label_dir(item.label)) / f"{item.video}_{frame_index:05d}{suffix}.jpg"
        save_image(out_dir / rel, crop_face(frame, face.box, margin, size))
        x0, y0, x1, y1 = (round(v, 1) for v in face.box)
        rows.append(CropRecord(path=rel.as_posix(), face=k, x0=x0, y0=y0, x1=x1, y1=y1,
                               score=round(face.score, 4), **common))
    return rows


def write_index(path: Path, rows: Iterable[CropRecord]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=INDEX_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow(asdict(row))


def read_index(path: str | Path) -> list[CropRecord]:
    """Rows of a crop index CSV (paths stay relative to the index's folder)."""
    converters = {f.name: f.type for f in fields(CropRecord)}
    casts = {"int": int, "float": float, "str": str}
    with open(path, newline="", encoding="utf-8") as fh:
        return [
            CropRecord(**{k: casts[converters[k]](v) for k, v in row.items() if k in converters})
            for row in csv.DictReader(fh)
        ]


def crop_framing(paths: list[str | Path]) -> dict | None:
    """``{"detector", "margin"}`` the crops under ``paths`` were cut with (from their indexes), so a model
    records the framing it was really trained on; None when no index says (v1 crop folders).

    Crops cut two ways would teach the model the framing instead of the face: refused."""
    seen = set()
    for path in paths:
        index = Path(path) / INDEX_NAME if Path(path).is_dir() else Path(path)
        if index.is_file() and index.suffix == ".csv":
            seen |= {(r.detector, r.margin) for r in read_index(index) if r.path}
    if len(seen) > 1:
        raise InputError(f"the crops were cut with different detectors or margins {sorted(seen)}; "
                        "re-cut them one way (flashivy faces --detector D --margin M)")
    if not seen:
        return None
    detector, margin = seen.pop()
    return {"detector": detector, "margin": margin}


def merge_index(out_dir: Path) -> Path:
    """Concatenate the per-video index parts into ``out_dir/index.csv``."""
    parts = sorted((out_dir / PARTS_DIR).glob("*.csv"))
    rows = [row for part in parts for row in read_index(part)]
    index = out_dir / INDEX_NAME
    write_index(index, rows)
    return index


def _progress(items, desc: str):
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="video", file=sys.stderr, dynamic_ncols=True)


def _frame_source_from_frames_dir(video_dir: Path) -> Iterator[tuple[int, np.ndarray]]:
    for path in sorted(video_dir.glob("*.jpg")):
        yield int(path.stem), load_image(path)


def _crop_video(
    item: MediaItem,
    frames: Iterable[tuple[int, np.ndarray]],
    out_dir: Path,
    detector: FaceDetector,
    margin: float,
    size: int,
    all_faces: bool,
) -> list[CropRecord]:
    rows = [r for index, frame in frames
            for r in crop_frame(frame, index, item, out_dir, detector, margin, size, all_faces)]
    write_index(out_dir / PARTS_DIR / f"{item.video}.csv", rows)
    return rows


def _finish(out_dir: Path) -> Path:
    """Merge the per-video index parts into ``index.csv`` and say how many frames had a face."""
    index = merge_index(out_dir)
    print(f"{index}: {_summary(read_index(index))}", file=sys.stderr)
    return index


def _summary(rows: list[CropRecord]) -> str:
    frames = {(r.video, r.frame) for r in rows}
    found = {(r.video, r.frame) for r in rows if r.path}
    rate = len(found) / len(frames) if frames else 0.0
    return f"{len(found)}/{len(frames)} frames with a face ({rate:.1%})"


def stream_crops(
    video_root: str | Path,
    out_dir: str | Path,
    detector: FaceDetector,
    num_frames: int | None = 32,
    every: int | None = None,
    margin: float = DEFAULT_MARGIN,
    size: int = DEFAULT_CROP_SIZE,
    all_faces: bool = False,
) -> Path:
    """Videos (and images, as one frame each) straight to face crops, no frame dump.

    Returns the index path.
    """
    out_dir = Path(out_dir)
    items = _require_media(video_root)
    done_dir = out_dir / PARTS_DIR
    for item in _progress(items, "crop faces"):
        if (done_dir / f"{item.video}.csv").exists():
            continue
        try:
            if is_image_path(item.path):
                frames = iter([(0, load_image(item.path))])
            else:
                _, frames = sample_frames(item.path, num_frames, every)
            _crop_video(item, frames, out_dir, detector, margin, size, all_faces)
        except UserError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
    return _finish(out_dir)


def crop_frames(
    frames_root: str | Path,
    out_dir: str | Path,
    detector: FaceDetector,
    margin: float = DEFAULT_MARGIN,
    size: int = DEFAULT_CROP_SIZE,
    all_faces: bool = False,
) -> Path:
    """Frames written by :func:`extract_frames` to face crops. Returns the index path."""
    frames_root, out_dir = Path(frames_root), Path(out_dir)
    metas = sorted(frames_root.glob("*/*/meta.json"))
    if not metas:
        raise InputError(f"{frames_root}: no extracted frames found (run extract_frames.py first)")
    for meta_path in _progress(metas, "crop faces"):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        item = MediaItem(Path(meta["source"]), meta["label"], meta["method"], meta["video"], meta["group"])
        if (out_dir / PARTS_DIR / f"{item.video}.csv").exists():
            continue
        _crop_video(item, _frame_source_from_frames_dir(meta_path.parent), out_dir, detector, margin, size, all_faces)
    return _finish(out_dir)


def extract_frames(
    video_root: str | Path,
    out_dir: str | Path,
    num_frames: int | None = 32,
    every: int | None = None,
    quality: int = 95,
) -> int:
    """Sampled frames of every video to ``OUT/{label}/<video>/<frame>.jpg``. Returns videos written."""
    out_dir = Path(out_dir)
    written = 0
    for item in _progress(_require_media(video_root, videos_only=True), "extract frames"):
        final = out_dir / _label_dir(item.label) / item.video
        if (final / "meta.json").exists():
            continue
        tmp = final.with_name(f".{final.name}.part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            info, frames = sample_frames(item.path, num_frames, every)
            indices = []
            for index, frame in frames:
                save_image(tmp / f"{index:05d}.jpg", frame, quality)
                indices.append(index)
        except UserError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"skipped: {exc}", file=sys.stderr)
            continue
        meta = dict(asdict(item), source=str(item.path), fps=info.fps, total_frames=info.frames, frames=indices)
        meta.pop("path")
        write_text_atomic(tmp / "meta.json", json.dumps(meta, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        written += 1
    return written


def _require_media(root: str | Path, videos_only: bool = False) -> list[MediaItem]:
    if not Path(root).exists():
        raise InputError(f"{root}: no such file or folder")
    items = find_videos(root) if videos_only else find_media(root)
    if not items:
        raise InputError(f"{root}: no {'video' if videos_only else 'video or image'} files found")
    return items
