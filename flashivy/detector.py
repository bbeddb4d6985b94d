"""The import path of flashivy 0.3 and earlier: ``from flashivy.detector import Detector`` keeps working.

The code lives in :mod:`flashivy.inference`; new code imports ``from flashivy import Detector``."""
from .faces.tracking import track
from .inference.detector import Detector
from .inference.results import FaceScore, ImageResult, PersonResult, VideoResult

__all__ = ["Detector", "FaceScore", "ImageResult", "PersonResult", "VideoResult", "track"]
