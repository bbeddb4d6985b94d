"""Box geometry shared by the face detector's suppression, the tracker and the tests: boxes are x0 y0 x1 y1."""
from __future__ import annotations

import numpy as np


def iou(box, boxes) -> np.ndarray:
    """Intersection over union of one box (4,) with many (N, 4); 0 where the union is empty."""
    box, boxes = np.asarray(box, np.float64), np.asarray(boxes, np.float64).reshape(-1, 4)
    lo = np.maximum(box[:2], boxes[:, :2])
    hi = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 2:] - b[..., :2], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
