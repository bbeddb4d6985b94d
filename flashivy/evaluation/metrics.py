"""Metrics (scikit-learn): AUC, AP, EER, ECE, accuracy at a threshold, per frame and per video; the ROC and
robustness plots. Calibration itself lives in :mod:`flashivy.models.calibration`."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np


def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where the false positive and false negative rates meet."""
    from sklearn.metrics import roc_curve

    # every threshold: with scikit-learn's default, collinear points are dropped, and with them the one
    # where the two error rates cross (an EER of 0.375 instead of 0.25 on eight faces, tests/test_metrics.py)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE of the fake probability, equal-width bins."""
    labels, probs = np.asarray(labels, float), np.asarray(probs, float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(probs[mask].mean() - labels[mask].mean())
    return float(total)


def video_scores(videos: Sequence[str], labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-video label and mean fake probability over its frames."""
    acc: dict[str, list] = defaultdict(list)
    lab: dict[str, int] = {}
    for v, y, p in zip(videos, labels, probs):
        acc[v].append(p)
        lab[v] = int(y)
    keys = sorted(acc)
    return np.array([lab[k] for k in keys]), np.array([float(np.mean(acc[k])) for k in keys])


def binary_report(labels, probs, videos: Sequence[str] | None = None, threshold: float = 0.5) -> dict:
    """Frame-level AUC, AP, EER, accuracy at ``threshold``, counts; video-level AUC when videos are given."""
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

    labels, probs = np.asarray(labels, int), np.asarray(probs, float)
    both = len(set(labels.tolist())) == 2
    report = {
        "n": int(len(labels)), "n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum()),
        "auc": float(roc_auc_score(labels, probs)) if both else None,
        "ap": float(average_precision_score(labels, probs)) if both else None,
        "eer": eer(labels, probs) if both else None,
        "accuracy": float(accuracy_score(labels, probs >= threshold)),
        "threshold": threshold,
        # real faces called FAKE, fakes called REAL, at the threshold
        "false_positive_rate": float((probs[labels == 0] >= threshold).mean()) if (labels == 0).any() else None,
        "false_negative_rate": float((probs[labels == 1] < threshold).mean()) if (labels == 1).any() else None,
        "ece": expected_calibration_error(labels, probs),
    }
    if videos is not None:
        vl, vp = video_scores(videos, labels, probs)
        vboth = len(set(vl.tolist())) == 2
        report["video"] = {
            "n": int(len(vl)), "n_real": int((vl == 0).sum()), "n_fake": int((vl == 1).sum()),
            "auc": float(roc_auc_score(vl, vp)) if vboth else None,
            "ap": float(average_precision_score(vl, vp)) if vboth else None,
            "eer": eer(vl, vp) if vboth else None,
            "accuracy": float(accuracy_score(vl, vp >= threshold)),
        }
    return report


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str = "ROC") -> Path:
    """One ROC curve per name, from ``{name: (labels, scores)}``, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    from ..media.sheets import save_figure

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, (y, s) in curves.items():
        if len(set(np.asarray(y).tolist())) < 2:
            continue
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f}, n={len(y)})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="_chance")
    ax.set(xlabel="false positive rate (real called fake)", ylabel="true positive rate (fake caught)", title=title,
           xlim=(0, 1), ylim=(0, 1.01))
    if ax.lines[:-1]:
        ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_robustness(rows: dict, path: Path, title: str) -> None:
    """AUC against severity, one panel per perturbation, the clean AUC as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..media.sheets import save_figure
    from .perturb import SEVERITIES

    kinds = [k for k in SEVERITIES if any(name.startswith(k + "=") for name in rows)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3.2), squeeze=False)
    units = {"jpeg": "JPEG quality", "blur": "blur sigma (px)", "downscale": "downscale factor",
             "noise": "noise sigma"}
    for ax, kind in zip(axes[0], kinds):
        levels = [(float(n.split("=")[1]), r) for n, r in rows.items() if n.startswith(kind + "=")]
        xs = [lv for lv, _ in levels]
        for key, style in (("frame_auc", "o-"), ("video_auc", "s--")):
            if key in rows["clean"] and rows["clean"][key] is not None:
                ax.plot(xs, [r[key] for _, r in levels], style, label=key.replace("_", " "))
                ax.axhline(rows["clean"][key], color="grey", lw=0.8, ls=":")
        ax.set(xlabel=units[kind], ylim=(0.4, 1.01), title=kind)
        if kind == "jpeg":
            ax.invert_xaxis()  # lower quality = more severe, to the right
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("AUC")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{title}: AUC under perturbation (dotted: clean)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
