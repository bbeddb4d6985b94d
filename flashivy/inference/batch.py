"""Batch scoring: files and folders in, one JSON Lines record per input out, a summary on stderr.

A bad file becomes a record with ``error`` and the batch goes on. Records are
appended one line at a time and flushed, and inputs already in the output
file are skipped, so a killed run resumes where it stopped. Under torchrun
each rank scores a stable shard into its own part file and rank 0 merges the
parts into the output in input order.
"""
from __future__ import annotations

import glob
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from ..core.atomic import atomic_path
from ..core.distributed import World, barrier, gather, shard
from ..core.errors import ConfigError, InputError, UserError, require_file
from ..core.timeouts import time_limit
from ..media.images import open_image
from .detector import Detector
from .quality import as_records
from .results import ImageResult, VideoResult


def iter_inputs(paths: list[Path]) -> Iterator[Path]:
    """Files, and what folders hold (recursively, sorted, hidden names skipped, symlinks to folders not
    followed, so loops end). Entries that are not regular files (FIFOs, dangling links) are yielded too,
    to be reported rather than silently dropped."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if not p.is_dir() and not p.name.startswith("."))
        else:
            yield path


def media_type(path: Path) -> str:
    """'image' or 'video', by content: Pillow recognises images, FFmpeg finds a video stream."""
    from PIL import Image, UnidentifiedImageError

    require_file(path)
    try:
        with open_image(path) as img:
            if img.format != "GIF" or getattr(img, "n_frames", 1) == 1:  # animated GIFs are scored as videos
                return "image"
    except Image.DecompressionBombError:
        return "image"  # load_image refuses it with the size limit
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    from ..media.video import is_video_file

    if is_video_file(path):
        return "video"
    raise InputError(f"{path}: neither an image nor a video")


def record(result: ImageResult | VideoResult | None, path: Path, kind: str | None, error: str | None) -> dict:
    base = {"path": str(path), "type": kind, "prediction": None, "fake_probability": None, "confidence": None,
            "faces": 0, "frames": 0, "warnings": [], "error": error}
    if result is None:
        return base
    base.update(prediction=result.prediction, confidence=result.confidence, faces=len(result.faces),
                fake_probability=result.fake_probability, scores=result.scores, kind=result.kind,
                warnings=as_records(result.warnings), provenance=result.provenance)
    if isinstance(result, VideoResult):
        base.update(frames=result.frames, total_frames=result.total_frames, fps=result.fps,
                    persons=[{k: v for k, v in asdict(p).items() if k not in ("threshold", "warnings")}
                             | {"prediction": p.prediction} for p in result.persons])
    else:
        base.update(frames=1, crop=result.crop, boxes=[f.box for f in result.faces])
    return base


def _records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a torn last line from a kill: that input is redone
    return [r for r in records if isinstance(r, dict) and "path" in r]


def _parts(out: Path) -> list[Path]:
    """Per-rank files of a sharded run (any world size), left until rank 0 merges them."""
    return sorted(out.parent.glob(f"{glob.escape(out.name)}.rank*.part"))


def _repair_tail(path: Path) -> None:
    """Cut a torn last line (a kill in mid-write) so that appended records start on a line of their own."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def _done(out: Path | None) -> set[str]:
    if out is None:
        return set()
    files = ([out] if out.exists() else []) + _parts(out)
    return {r["path"] for f in files for r in _records(f)}


def _merge(out: Path, order: list[Path]) -> None:
    """Fold the ranks' part files into ``out``, all records in input order; written atomically."""
    parts = _parts(out)
    if not parts:
        return
    records: dict[str, dict] = {}
    for f in ([out] if out.exists() else []) + parts:
        for r in _records(f):
            records.setdefault(r["path"], r)
    position = {str(p): i for i, p in enumerate(order)}
    ranked = sorted(records, key=lambda p: position.get(p, len(position)))  # stable: unknown paths keep order
    with atomic_path(out) as tmp:
        tmp.write_text("".join(json.dumps(records[p]) + "\n" for p in ranked), encoding="utf-8")
    for part in parts:
        part.unlink()


def predict_batch(detector: Detector, inputs: list[Path], json_out: str, crop: str = "auto",
                  num_frames: int = 32, world: World = World(), timeout: float | None = 300) -> int:
    """Score every input; under torchrun each rank takes its shard and rank 0 merges in input order."""
    from tqdm import tqdm

    out = None if json_out == "-" else Path(json_out)
    if out is None and world.distributed:
        raise ConfigError("several processes cannot share stdout: give --json FILE")
    order = list(iter_inputs(inputs))
    done = _done(out)
    mine = shard([p for p in order if str(p) not in done], world)
    target = out if out is None or not world.distributed else out.with_name(f"{out.name}.rank{world.rank}.part")
    if target is not None:
        _repair_tail(target)
    sink = sys.stdout if target is None else open(target, "a", encoding="utf-8")
    counts = {"REAL": 0, "FAKE": 0, "no face": 0, "error": 0}
    try:
        for path in tqdm(mine, desc="predict", unit="file", file=sys.stderr, dynamic_ncols=True,
                         disable=not world.is_main):
            kind = result = error = None
            try:
                with time_limit(timeout, str(path)):
                    kind = media_type(path)
                    result = (detector.predict_image(path, crop) if kind == "image"
                              else detector.predict_video(path, num_frames))
            except UserError as exc:
                error = str(exc)
            rec = record(result, path, kind, error)
            counts["error" if error else rec["prediction"] or "no face"] += 1
            sink.write(json.dumps(rec) + "\n")  # one whole line per record, flushed: a kill loses at most one
            sink.flush()
    finally:
        if target is not None:
            sink.close()
    all_counts = gather(world, counts)
    barrier(world)
    if world.is_main:
        if out is not None:
            _merge(out, order)
        total = {k: sum(c[k] for c in all_counts) for k in counts}
        print("  ".join(f"{k}: {v}" for k, v in total.items()) + f"  (skipped as done: {len(done)})",
              file=sys.stderr)
    return 0
