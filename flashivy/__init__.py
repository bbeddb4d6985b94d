"""Flashivy-Deepfake: deepfake detection for face images and videos, offline, on a CPU.

The public surface, imported on first use (``import flashivy`` itself loads nothing heavy)::

    import flashivy

    detector = flashivy.Detector.from_checkpoint()          # the shipped model, ONNX Runtime on the CPU
    result = detector.predict_video("clip.mp4")             # or .predict_image("face.jpg")
    print(result.prediction, result.confidence, result.kind, [w.code for w in result.warnings])

    model = flashivy.create_model("efficientnet_lite0", pretrained=True)   # training needs flashivy[train]
    flashivy.list_models()                                  # ['baseline', 'efficientnet_lite0', 'mobilenetv2']

Errors a caller can act on derive from ``UserError``: ``InputError`` (the file, folder or face given)
and ``ConfigError`` (a flag, recipe, checkpoint, device or missing extra).
"""
# ruff: noqa: F401 - the TYPE_CHECKING imports below are re-exports, listed in __all__ through _LAZY
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .core.errors import ConfigError, InputError, UserError
from .core.version import __version__

# name -> module that defines it; resolved by __getattr__ on first use (PEP 562)
_LAZY = {
    "Detector": "flashivy.inference.detector",
    "ImageResult": "flashivy.inference.results",
    "VideoResult": "flashivy.inference.results",
    "PersonResult": "flashivy.inference.results",
    "FaceScore": "flashivy.inference.results",
    "QualityWarning": "flashivy.inference.quality",
    "DEFAULT_CHECKPOINT": "flashivy.models.checkpoint",
    "read_metadata": "flashivy.models.checkpoint",
    "create_model": "flashivy.models.registry",
    "list_models": "flashivy.models.registry",
    "create_detector": "flashivy.faces.detectors",
    "list_detectors": "flashivy.faces.detectors",
    "TrainConfig": "flashivy.training.recipe",
    "KindConfig": "flashivy.training.recipe",
}

__all__ = ["ConfigError", "InputError", "UserError", "__version__", *_LAZY]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on demand
    from .faces.detectors import create_detector, list_detectors
    from .inference.detector import Detector
    from .inference.quality import QualityWarning
    from .inference.results import FaceScore, ImageResult, PersonResult, VideoResult
    from .models.checkpoint import DEFAULT_CHECKPOINT, read_metadata
    from .models.registry import create_model, list_models
    from .training.recipe import KindConfig, TrainConfig


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'flashivy' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
