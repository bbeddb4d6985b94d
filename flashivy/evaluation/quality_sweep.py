"""The measurement behind the quality-warning thresholds of :mod:`flashivy.inference.quality`.

Validation face crops (never the reported test split) are degraded step by step,
blur, smaller faces, harder JPEG, and scored; each step gives the AUC, the share
of real faces called fake, and the quality figure the warning measures (sharpness,
face size in pixels, JPEG quality). A step is *trusted* while the AUC stays within
0.05 of the clean crops and real faces are called fake at most 1.5 times as often;
the warning threshold is the figure of the last trusted step.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..media.images import gaussian_blur, jpeg

CROP_MARGIN = 1.3  # a crop is this many times the face box (faces.DEFAULT_MARGIN)


def shrink_face(crop: np.ndarray, face_px: float) -> np.ndarray:
    """The crop as it comes out when the face was ``face_px`` wide in the frame: down, then back up."""
    import cv2

    size = crop.shape[0]
    small = max(4, int(round(face_px * CROP_MARGIN)))
    down = cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (size, size), interpolation=cv2.INTER_LINEAR)


@dataclass(frozen=True)
class Sweep:
    name: str  # what the warning measures
    levels: tuple[float, ...]  # first level: clean
    degrade: Callable[[np.ndarray, float], np.ndarray]
    measure: Callable[[np.ndarray, float], float]  # the figure the warning reads, per degraded crop


def _sharpness(crop, _level):
    from ..inference.quality import sharpness

    return sharpness(crop)


SWEEPS = {
    "blur": Sweep("sharpness", (0, 1, 2, 3, 4, 5), lambda c, s: gaussian_blur(c, s) if s else c, _sharpness),
    "face_size": Sweep("face px", (172, 128, 96, 64, 48, 32), shrink_face, lambda c, px: px),
    "jpeg": Sweep("JPEG quality", (100, 90, 70, 50, 40, 30, 20, 10), lambda c, q: jpeg(c, int(q)) if q < 100 else c,
                  lambda c, q: q),
}


def run_sweep(detector, crops: list[np.ndarray], labels: np.ndarray, sweep: Sweep) -> list[dict]:
    """One row per level: AUC, false-positive and false-negative rates at the threshold, median figure."""
    from tqdm import tqdm

    from .metrics import binary_report

    rows = []
    for level in tqdm(sweep.levels, desc=sweep.name, file=sys.stderr, dynamic_ncols=True):
        degraded = [sweep.degrade(c, level) for c in crops]
        probs = detector.score_crops(degraded)
        rep = binary_report(labels, probs, None, detector.threshold)
        called_fake = probs >= detector.threshold
        rows.append({"level": level, "auc": rep["auc"], "fpr": float(called_fake[labels == 0].mean()),
                     "fnr": float((~called_fake)[labels == 1].mean()),
                     "figure": float(np.median([sweep.measure(c, level) for c in degraded]))})
    return rows


def trusted(rows: list[dict], max_auc_drop: float = 0.05, max_fpr_ratio: float = 1.5) -> list[bool]:
    """A level is trusted while its AUC stays within ``max_auc_drop`` of the clean crops' and real faces are
    called fake at most ``max_fpr_ratio`` times as often."""
    clean = rows[0]
    return [r["auc"] >= clean["auc"] - max_auc_drop and r["fpr"] <= clean["fpr"] * max_fpr_ratio for r in rows]


def threshold(rows: list[dict], ok: list[bool]) -> float | None:
    """The figure of the last trusted level before the first untrusted one: below it, warn (None: all trusted)."""
    for i, good in enumerate(ok):
        if not good:
            return rows[max(0, i - 1)]["figure"]
    return None


def plot(results: dict[str, list[dict]], path) -> None:
    """One panel per sweep: AUC and real faces called fake against the measured figure, the threshold dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..media.sheets import save_figure

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4))
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items()):
        x = [r["figure"] for r in rows]
        ax.plot(x, [r["auc"] for r in rows], "o-", label="AUC")
        ax.plot(x, [r["fpr"] for r in rows], "s--", label="real faces called fake")
        cut = threshold(rows, trusted(rows))
        if cut is not None:
            ax.axvline(cut, color="grey", linestyle=":", label=f"warn below {cut:.3g}")
        ax.set(xlabel=SWEEPS[name].name, ylim=(0, 1.02), title=name.replace("_", " "))
        if name == "blur":
            ax.set_xscale("log")
            ax.set_xticks([2, 4, 8, 16, 32], labels=["2", "4", "8", "16", "32"])
            ax.minorticks_off()
        ax.grid(alpha=0.3)
        ax.legend(loc="center right")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
