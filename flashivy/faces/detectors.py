"""Face detectors behind one small interface, and the crop that training and inference share.

``create_detector(name)`` returns a :class:`FaceDetector`; each detector only
implements :meth:`FaceDetector.detect`. ``crop_face`` is the single definition
of framing (square box, margin, output size) used everywhere.
"""
from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core.errors import ConfigError

DEFAULT_DETECTOR = "mediapipe"
DEFAULT_MARGIN = 1.3
DEFAULT_CROP_SIZE = 224


@dataclass(frozen=True)
class Face:
    """A detected face: box ``(x0, y0, x1, y1)`` in pixels, a score, optional landmarks (k, 2)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


class FaceDetector(ABC):
    """Finds faces in an RGB uint8 image. Subclasses implement :meth:`detect` only."""

    name: str = ""

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in ``image`` (H, W, 3 RGB uint8), best first."""


_REGISTRY: dict[str, Callable[..., FaceDetector]] = {}


def register_detector(name: str):
    def wrap(cls):
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def list_detectors() -> list[str]:
    return sorted(_REGISTRY)


def create_detector(name: str = DEFAULT_DETECTOR, **kwargs) -> FaceDetector:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown face detector {name!r}; choose from {', '.join(list_detectors())}")
    return _REGISTRY[name](**kwargs)


@register_detector("haar")
class HaarDetector(FaceDetector):
    """v1's detector: OpenCV's ``haarcascade_frontalface_default.xml``."""

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 40):
        import cv2

        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise ConfigError(f"cannot load the Haar cascade at {path}")
        self._params = dict(scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size))

    def detect(self, image: np.ndarray) -> list[Face]:
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        rects, _, weights = self._cascade.detectMultiScale3(gray, outputRejectLevels=True, **self._params)
        faces = [
            Face((float(x), float(y), float(x + w), float(y + h)), float(s))
            for (x, y, w, h), s in zip(rects, np.ravel(weights))
        ]
        return sorted(faces, key=lambda f: f.score, reverse=True)


@contextmanager
def quiet_native_stderr():
    """Native libraries (TFLite, MediaPipe) log straight to file descriptor 2; hide that noise from users."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@register_detector("mediapipe")
class MediaPipeDetector(FaceDetector):
    """Google's BlazeFace (MediaPipe's models and post-processing, see :mod:`flashivy.faces.blazeface`), with 6
    landmarks: eyes, nose tip, mouth, ear tragions.

    Runs the full-range model (faces up to ~5 m, video frames) and, when that
    finds nothing, the short-range model, which finds faces that fill the
    picture (selfies, tight crops) that the full-range model misses.
    """

    def __init__(self):
        try:
            from .blazeface import FULL_RANGE, SHORT_RANGE, BlazeFaceRunner
            with quiet_native_stderr():  # the interpreter announces its CPU delegate on stderr
                self._runners = [BlazeFaceRunner(FULL_RANGE), BlazeFaceRunner(SHORT_RANGE)]
                blank = np.zeros((64, 64, 3), np.uint8)
                for runner in self._runners:
                    runner.detections(blank)
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(f"the face detector needs ai-edge-litert ({exc}): pip install flashivy") from None

    def detect(self, image: np.ndarray) -> list[Face]:
        for runner in self._runners:
            faces = [Face(tuple(map(float, box)), score, points) for box, points, score in runner.detections(image)]
            if faces:
                return faces
        return []


def square_box(box: tuple[float, float, float, float], margin: float = DEFAULT_MARGIN) -> tuple[int, int, int, int]:
    """A square around the box's centre, its side ``margin`` times the box's longer side."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * margin
    half = side / 2
    left, top = int(round(cx - half)), int(round(cy - half))
    side_px = max(1, int(round(side)))
    return left, top, left + side_px, top + side_px


def crop_face(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    margin: float = DEFAULT_MARGIN,
    size: int = DEFAULT_CROP_SIZE,
) -> np.ndarray:
    """Square crop of ``margin`` times the face box, resized to ``size`` x ``size``.

    Parts of the square outside the image are filled by replicating the border,
    so a face at the edge keeps its position and scale in the crop.
    """
    import cv2

    left, top, right, bottom = square_box(box, margin)
    height, width = image.shape[:2]
    pad = max(0, -left, -top, right - width, bottom - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        left, top, right, bottom = left + pad, top + pad, right + pad, bottom + pad
    crop = image[top:bottom, left:right]
    interp = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)
