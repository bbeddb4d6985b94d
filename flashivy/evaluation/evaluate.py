"""Evaluation on a folder of face crops or on a video root (FF++ layout), per manipulation method.

Frame-level metrics score every face; video-level metrics score each video's
verdict. ``exclude`` drops the groups a run trained or validated on (its
``splits.json``), so what is reported is held out.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ..core.atomic import write_text_atomic
from ..core.errors import InputError, UserError
from ..datasets.samples import LABELS, load_source, read_splits
from ..inference.detector import Detector
from ..media.layout import find_videos
from .metrics import binary_report, plot_robustness, plot_roc
from .perturb import parse as parse_perturbations


def excluded_groups(splits_files: list[str | Path] | None, source: str, aliases: dict[str, str] | None = None
                    ) -> set[str]:
    """Groups of ``source`` that any of the runs used for training or validation (``aliases``: a splits file's
    source names -> ours)."""
    prefix = f"{source}:"
    return {g[len(prefix):] for path in splits_files or [] for g, part in read_splits(path, aliases).items()
            if part != "test" and g.startswith(prefix)}


def _by_method(methods: list[str], labels, probs, videos, threshold) -> dict:
    """Each manipulation method against all real samples, plus 'all'."""
    methods, labels, probs = np.asarray(methods), np.asarray(labels), np.asarray(probs)
    videos = np.asarray(videos)
    out = {"all": binary_report(labels, probs, videos.tolist(), threshold)}
    for method in sorted(set(methods[labels == 1].tolist())):
        keep = (labels == 0) | (methods == method)
        if method and keep.sum() < len(labels):
            out[method] = binary_report(labels[keep], probs[keep], videos[keep].tolist(), threshold)
    return out


def evaluate_crops(detector: Detector, root: Path, source: str, exclude: set[str]) -> tuple[dict, dict]:
    from tqdm import tqdm

    from ..media.images import load_image

    samples = [s for s in load_source(root, source) if s.group not in exclude]
    if not samples:
        raise InputError(f"{root}: no face crops left to evaluate")
    probs, scored, skipped = [], [], []
    batch = max(1, detector.batch_size)
    for i in tqdm(range(0, len(samples), batch), desc="score crops", file=sys.stderr, dynamic_ncols=True):
        images = []
        for s in samples[i:i + batch]:
            try:
                image = load_image(s.path)
                images.append(detector.frame_transform(image) if detector.frame_transform else image)
                scored.append(s)
            except UserError as exc:  # a bad file is reported and left out, the rest is still scored
                print(f"skipped: {exc}", file=sys.stderr)
                skipped.append(str(s.path))
        probs += detector.score_crops(images).tolist() if images else []
    if not scored:
        raise InputError(f"{root}: none of the {len(samples)} face crops could be read")
    labels = [s.label for s in scored]
    report = _by_method([s.method for s in scored], labels, probs, [s.video for s in scored], detector.threshold)
    report["skipped"] = skipped
    return report, {f"{source} frames": (np.array(labels), np.array(probs))}


def evaluate_images(detector: Detector, root: Path, source: str, exclude: set[str]) -> tuple[dict, dict]:
    """Whole images (``{real,fake}/*.jpg`` or an index), judged as a user's photo is: faces found, cropped,
    scored by every head. Besides the verdict's fake probability, each kind's own score is reported."""
    from tqdm import tqdm

    samples = [s for s in load_source(root, source) if s.group not in exclude]
    if not samples:
        raise InputError(f"{root}: no images left to evaluate")
    scored, probs, kinds, skipped = [], [], [], []
    for s in tqdm(samples, desc="score images", unit="image", file=sys.stderr, dynamic_ncols=True):
        try:
            result = detector.predict_image(s.path)
        except UserError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            skipped.append(str(s.path))
            continue
        scored.append(s), probs.append(result.fake_probability), kinds.append(result.scores)
    if not scored:
        raise InputError(f"{root}: none of the {len(samples)} images could be read")
    labels = [s.label for s in scored]
    report = _by_method([s.method for s in scored], labels, probs, [s.video for s in scored], detector.threshold)
    report["by_kind"] = {kind: binary_report(labels, [k[kind] for k in kinds], None, detector.threshold)
                         for kind in detector.kinds}
    report["skipped"] = skipped
    return report, {f"{source} images": (np.array(labels), np.array(probs))}


def evaluate_videos(detector: Detector, videos: list, source: str, exclude: set[str], num_frames: int
                    ) -> tuple[dict, dict]:
    from tqdm import tqdm

    items = [v for v in videos if v.label in LABELS and v.group not in exclude]
    if not items:
        raise InputError("no labelled videos left to evaluate")
    f_labels, f_probs, f_methods, f_videos = [], [], [], []
    v_labels, v_probs, no_face, skipped = [], [], [], []
    for item in tqdm(items, desc="score videos", unit="video", file=sys.stderr, dynamic_ncols=True):
        try:
            result = detector.predict_video(item.path, num_frames)
        except UserError as exc:
            print(f"skipped: {exc}", file=sys.stderr)
            skipped.append(str(item.path))
            continue
        label = LABELS.index(item.label)
        for face in result.faces:
            f_labels.append(label), f_probs.append(face.fake_probability)
            f_methods.append(item.method), f_videos.append(item.video)
        if result.fake_probability is None:
            no_face.append(item.video)
        else:
            v_labels.append(label), v_probs.append(result.fake_probability)
    report = _by_method(f_methods, f_labels, f_probs, f_videos, detector.threshold)
    report["video_verdicts"] = binary_report(v_labels, v_probs, None, detector.threshold)
    report["videos_without_face"] = no_face
    report["skipped"] = skipped
    curves = {f"{source} frames": (np.array(f_labels), np.array(f_probs)),
              f"{source} videos": (np.array(v_labels), np.array(v_probs))}
    return report, curves


def evaluate(root: str | Path, checkpoint: str | Path | None = None, out: str | Path = "runs/eval",
             source: str | None = None, exclude_splits: list[str | Path] | None = None, num_frames: int = 32,
             device: str = "auto", batch_size: int = 16, backend: str = "auto", perturb: str | None = None,
             images: bool = False, aliases: dict[str, str] | None = None) -> dict:
    """Metrics on ``root``; with ``perturb`` also under each perturbation (robustness table and plot).

    ``images``: the files under ``root`` are whole photos, whose faces are found first (not face crops)."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such folder")
    source = source or root.name
    perturbations = parse_perturbations(perturb) if perturb else []
    detector = Detector.from_checkpoint(checkpoint, device=device, backend=backend, batch_size=batch_size)
    detector.read_provenance = False  # metrics need the scores only, not each file's metadata
    exclude = excluded_groups(exclude_splits, source, aliases)
    videos = find_videos(root)

    def run():
        if videos:
            return evaluate_videos(detector, videos, source, exclude, num_frames)
        if images:
            return evaluate_images(detector, root, source, exclude)
        return evaluate_crops(detector, root, source, exclude)

    report, curves = run()
    report = {"data": str(root), "source": source, "checkpoint": str(checkpoint or "default"),
              "architecture": detector.meta["architecture"], "excluded_groups": len(exclude), **report}
    out = Path(out)
    if perturbations:
        rows = {"clean": _aucs(report)}
        for p in perturbations:
            print(f"perturbation {p.name}", file=sys.stderr)
            detector.frame_transform = p
            rows[p.name] = _aucs(run()[0])
        detector.frame_transform = None
        report["robustness"] = rows
        plot_robustness(rows, out / "robustness.png", title=f"{detector.meta['architecture']} on {source}")
    write_text_atomic(out / "report.json", json.dumps(report, indent=2))
    plot_roc(curves, out / "roc.png", title=f"{detector.meta['architecture']} on {source}")
    return report


def _aucs(report: dict) -> dict:
    """The robustness figures of one run: frame AUC, and video AUC where there are videos."""
    row = {"frame_auc": report["all"]["auc"], "n": report["all"]["n"]}
    if "video_verdicts" in report:
        row["video_auc"] = report["video_verdicts"]["auc"]
    return row
