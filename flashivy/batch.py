"""Batch scoring: files and folders in, one JSON Lines record per input out, a summary on stderr.

A bad file becomes a record with ``error`` and the batch goes on. Records are
appended one line at a time and flushed, and inputs already in the output
file are skipped, so a killed run resumes where it stopped.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from .detector import Detector, ImageResult, VideoResult
from .errors import UserError


def iter_inputs(paths: list[Path]) -> Iterator[Path]:
    """Files, and files in folders (recursively, sorted, symlink loops not followed)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            yield path


def media_type(path: Path) -> str:
    """'image' or 'video', by content: Pillow recognises images, FFmpeg finds a video stream."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            n_frames = getattr(img, "n_frames", 1)
            if img.format != "GIF" or n_frames == 1:
                return "image"
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    from .video import is_video_file

    if is_video_file(path):
        return "video"
    raise UserError(f"{path}: neither an image nor a video")


def record(result: ImageResult | VideoResult | None, path: Path, kind: str | None, error: str | None) -> dict:
    base = {"path": str(path), "type": kind, "prediction": None, "fake_probability": None, "confidence": None,
            "faces": 0, "frames": 0, "error": error}
    if result is None:
        return base
    base.update(prediction=result.prediction, confidence=result.confidence, faces=len(result.faces),
                fake_probability=result.fake_probability)
    if isinstance(result, VideoResult):
        base.update(frames=result.frames, total_frames=result.total_frames, fps=result.fps,
                    persons=[{k: v for k, v in asdict(p).items() if k != "threshold"}
                             | {"prediction": p.prediction} for p in result.persons])
    else:
        base.update(frames=1, crop=result.crop, boxes=[f.box for f in result.faces])
    return base


def _done(out: Path | None) -> set[str]:
    if out is None or not out.exists():
        return set()
    done = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            done.add(json.loads(line)["path"])
        except (ValueError, KeyError):
            continue  # a torn last line from a kill: that input is redone
    return done


def predict_batch(detector: Detector, inputs: list[Path], json_out: str, crop: str = "auto",
                  num_frames: int = 32) -> int:
    from tqdm import tqdm

    out = None if json_out == "-" else Path(json_out)
    done = _done(out)
    paths = [p for p in iter_inputs(inputs) if str(p) not in done]
    sink = sys.stdout if out is None else open(out, "a", encoding="utf-8")
    counts = {"REAL": 0, "FAKE": 0, "no face": 0, "error": 0}
    try:
        for path in tqdm(paths, desc="predict", unit="file", file=sys.stderr, dynamic_ncols=True):
            kind = result = error = None
            try:
                if not path.exists():
                    raise UserError(f"{path}: no such file")
                kind = media_type(path)
                result = (detector.predict_image(path, crop) if kind == "image"
                          else detector.predict_video(path, num_frames))
            except UserError as exc:
                error = str(exc)
            rec = record(result, path, kind, error)
            counts["error" if error else rec["prediction"] or "no face"] += 1
            sink.write(json.dumps(rec) + "\n")
            sink.flush()
    finally:
        if out is not None:
            sink.close()
    print("  ".join(f"{k}: {v}" for k, v in counts.items()) + f"  (skipped as done: {len(done)})", file=sys.stderr)
    return 0
