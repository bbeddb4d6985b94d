"""BlazeFace, MediaPipe's face detector, without MediaPipe.

The two TFLite models MediaPipe 0.10.21 bundles (Apache-2.0; copied into ``flashivy/weights/``) run in
Google's TFLite interpreter (``ai-edge-litert``, a 20 MB wheel with no torch); the steps MediaPipe's
graph puts around them are the pure functions below: letterbox to the model's square input, SSD anchors,
box and keypoint decoding, weighted non-maximum suppression. ``tests/test_blazeface.py`` checks the boxes
against MediaPipe's own on real frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..core.paths import WEIGHTS_DIR
from .boxes import iou

NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold for face detection
SCORE_CLIP = 100.0


@dataclass(frozen=True)
class BlazeFaceModel:
    """One BlazeFace variant: its file, square input side and anchor layout (MediaPipe's graph options)."""

    file: str
    size: int
    strides: tuple[int, ...]
    interpolated_anchor: bool  # a second anchor per layer (MediaPipe: interpolated_scale_aspect_ratio 1.0)
    min_score: float  # what MediaPipe's solution keeps (measured: its full-range graph keeps 0.6 and up)


FULL_RANGE = BlazeFaceModel("face_detection_full_range_sparse.tflite", 192, (4,), False, 0.6)
SHORT_RANGE = BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16, 16, 16), True, 0.5)


@lru_cache(maxsize=None)
def anchors(size: int, strides: tuple[int, ...], interpolated_anchor: bool) -> np.ndarray:
    """Anchor centres (N, 2) as fractions of the input, in the model's output order.

    Consecutive layers with one stride share a feature map; each layer adds one anchor per cell (two
    with the interpolated one). BlazeFace's anchors all have size 1, so only centres matter."""
    centres, i = [], 0
    while i < len(strides):
        stride, per_cell = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            per_cell += 2 if interpolated_anchor else 1
            i += 1
        cells = math.ceil(size / stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = (np.stack([xs, ys], -1).reshape(-1, 2) + 0.5) / cells
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """The image centred in a black square, scaled to ``size``: the model's input in [-1, 1] (1, size, size, 3),
    and the square's side and the padding (left, top) in image pixels, to map detections back."""
    import cv2

    height, width = image.shape[:2]
    side = float(max(height, width))
    left, top = (side - width) / 2, (side - height) / 2
    scale = size / side
    matrix = np.float32([[scale, 0, left * scale], [0, scale, top * scale]])
    square = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    tensor = square.astype(np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    return tensor[None], side, left, top


def decode(raw: np.ndarray, logits: np.ndarray, centres: np.ndarray, size: int,
           min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regressor rows (N, 16) and logits (N,) -> boxes (M, 4) x0 y0 x1 y1 and keypoints (M, 6, 2) as
    fractions of the model's input, and scores (M,), for the anchors scoring at least ``min_score``."""
    scores = 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
    keep = scores >= min_score
    raw, centres, scores = raw[keep] / size, centres[keep], scores[keep].astype(np.float32)
    centre = raw[:, :2] + centres
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
    return boxes, points, scores


def weighted_nms(boxes: np.ndarray, points: np.ndarray, scores: np.ndarray,
                 threshold: float = NMS_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted suppression: the best box and all that overlap it by more than ``threshold``
    merge into their score-weighted mean (box and keypoints), scored as the best; repeat on the rest."""
    order = np.argsort(-scores, kind="stable")
    boxes, points, scores = boxes[order], points[order], scores[order]
    merged = []
    while len(scores):
        group = iou(boxes[0], boxes) > threshold
        group[0] = True
        weights = scores[group] / scores[group].sum()
        merged.append((weights @ boxes[group], np.tensordot(weights, points[group], axes=1), float(scores[0])))
        boxes, points, scores = boxes[~group], points[~group], scores[~group]
    return merged


class BlazeFaceRunner:
    """One BlazeFace model in a TFLite interpreter: ``detections(image)`` -> [(box, keypoints, score)] in
    image pixels, best first. Not thread-safe (one interpreter); each detector owns its runners."""

    def __init__(self, model: BlazeFaceModel, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        from ..core.paths import verify_if_shipped

        self.model = model
        verify_if_shipped(WEIGHTS_DIR / model.file)  # the SHA-256 in weights/SHA256SUMS
        self._interpreter = Interpreter(model_path=str(WEIGHTS_DIR / model.file), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["shape"][-1])
        self._logits, self._raw = outputs[0]["index"], outputs[1]["index"]  # (1, N, 1) scores, (1, N, 16) boxes
        self._centres = anchors(model.size, model.strides, model.interpolated_anchor)

    def detections(self, image: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float]]:
        tensor, side, left, top = letterbox(image, self.model.size)
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._raw)[0]
        logits = self._interpreter.get_tensor(self._logits)[0, :, 0]
        boxes, points, scores = decode(raw, logits, self._centres, self.model.size, self.model.min_score)
        offset = np.float32([left, top])
        return [(box * side - np.tile(offset, 2), keypoints * side - offset, score)
                for box, keypoints, score in weighted_nms(boxes, points, scores)]
