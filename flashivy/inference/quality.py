"""Quality warnings: when a verdict deserves less trust than its number suggests.

Each check is a pure function of what the pipeline already has (face boxes in the
original frame, the face crops, the file's compression, the per-person verdicts).
The thresholds come from measurements on validation data (README, "Quality
warnings"; ``scripts/quality_thresholds.py`` measures them). A warning never hides
the verdict: it is said beside it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

# Measured by scripts/quality_thresholds.py on validation crops (README, "Quality warnings"): the last level
# where AUC stays within 0.05 of clean faces and real faces are called fake at most 1.5 times as often.
MIN_FACE_PX = 64  # shorter side of the face box in the original image or frame (48 px: false alarms x2)
MIN_SHARPNESS = 8.1  # variance of the Laplacian of the grey crop at 224 px (blur sigma 1; sigma 2: false alarms x2)
MIN_JPEG_QUALITY = 30  # estimated from the file's quantisation tables (quality 20: AUC -0.056)
MIN_VIDEO_BITS_PER_PIXEL = 0.02  # below every FF++ c23 video the model was trained and tested on (0.024-0.092)
NEAR_THRESHOLD = 0.15  # fake probability within this of the threshold


@dataclass(frozen=True)
class QualityWarning:
    code: str
    message: str

    def __str__(self) -> str:
        return f"warning: {self.message} [{self.code}]"


def sharpness(crop: np.ndarray, size: int = 224) -> float:
    """Variance of the Laplacian of the grey face crop resized to ``size``: low means blurred."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    if grey.shape != (size, size):
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


# The IJG reference luminance table; libjpeg scales it by the quality setting.
_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], float)


def _ijg_table(quality: int) -> np.ndarray:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


def jpeg_quality(path: str | Path) -> int | None:
    """The IJG quality (1-100) whose luminance table is nearest the file's; None when not a JPEG."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            tables = getattr(img, "quantization", None) or {}
    except OSError:
        return None
    if 0 not in tables:
        return None
    # Pillow gives the table in zigzag order, as the reference table above is in natural order: compare sorted
    # values, which the order does not change.
    luma = np.sort(np.asarray(tables[0], float))
    errors = [np.abs(np.sort(_ijg_table(q)) - luma).mean() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def face_warnings(boxes: Sequence[tuple], crops: Sequence[np.ndarray]) -> list[QualityWarning]:
    """Small and blurred faces (judged on the median face, so one bad frame does not warn)."""
    out = []
    if boxes:
        side = float(np.median([min(b[2] - b[0], b[3] - b[1]) for b in boxes]))
        if side < MIN_FACE_PX:
            out.append(QualityWarning("small_face", f"The face is small ({side:.0f} px; below {MIN_FACE_PX} px "
                                                    "the model was not shown to be reliable)."))
    if crops:
        sharp = float(np.median([sharpness(c) for c in crops]))
        if sharp < MIN_SHARPNESS:
            out.append(QualityWarning("blurred_face", f"The face is blurred (sharpness {sharp:.0f}, below "
                                                      f"{MIN_SHARPNESS:g}); blur can make real faces look fake."))
    return out


NO_FACE = QualityWarning("no_face_found", "No face was found, so the whole picture was scored as if it were a "
                                          "face; the model was never tested that way.")


def compression_warning(jpeg_q: int | None = None, bits_per_pixel: float | None = None) -> list[QualityWarning]:
    if jpeg_q is not None and jpeg_q < MIN_JPEG_QUALITY:
        return [QualityWarning("heavy_compression", f"The image is heavily compressed (JPEG quality about "
                                                    f"{jpeg_q}); compression hides or imitates traces of editing.")]
    if bits_per_pixel is not None and bits_per_pixel < MIN_VIDEO_BITS_PER_PIXEL:
        return [QualityWarning("heavy_compression", f"The video is heavily compressed ({bits_per_pixel:.3f} bits "
                                                    "per pixel); compression hides or imitates traces of editing.")]
    return []


def near_threshold(prob: float | None, threshold: float) -> list[QualityWarning]:
    if prob is None or abs(prob - threshold) >= NEAR_THRESHOLD:
        return []
    return [QualityWarning("near_threshold", f"The score ({prob:.2f}) is close to the threshold ({threshold:.2f}): "
                                             "the model cannot tell either way with confidence.")]


def person_warnings(steady_probs: Sequence[float], longest_track: int, frames: int, threshold: float,
                    min_share: float) -> list[QualityWarning]:
    """Several steady people with different verdicts; or nobody seen in ``min_share`` of the frames."""
    out = []
    if len({p >= threshold for p in steady_probs}) > 1:
        out.append(QualityWarning("mixed_persons", "Several people with different verdicts: the video verdict "
                                                   "follows the most suspicious one; see the per-person results."))
    if frames > 1 and longest_track < min_share * frames:
        out.append(QualityWarning("no_steady_person", f"No person was seen in most frames (at best {longest_track} "
                                                      f"of {frames}); the verdict rests on a few glimpses."))
    return out


def as_records(warnings: Sequence[QualityWarning]) -> list[dict]:
    return [{"code": w.code, "message": w.message} for w in warnings]
