"""What a verdict is: the dataclasses ``predict_image`` and ``predict_video`` return (their JSON records
are ``dataclasses.asdict`` of these, see :mod:`flashivy.inference.batch`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .quality import QualityWarning


@dataclass
class FaceScore:
    frame: int
    box: tuple[float, float, float, float]
    fake_probability: float
    person: int = 0
    scores: dict[str, float] = field(default_factory=dict)  # per kind of fake


@dataclass
class Verdict:
    fake_probability: float | None
    threshold: float
    warnings: list[QualityWarning] = field(default_factory=list)  # reasons to trust this verdict less
    scores: dict[str, float] = field(default_factory=dict)  # fake probability per kind ("manipulated", ...)

    @property
    def kind(self) -> str | None:
        """Which kind of fake a FAKE verdict found (the kind whose probability decided it)."""
        if self.prediction != "FAKE" or not self.scores:
            return None
        return max(self.scores, key=self.scores.get)

    @property
    def prediction(self) -> str | None:
        if self.fake_probability is None:
            return None
        return "FAKE" if self.fake_probability >= self.threshold else "REAL"

    @property
    def confidence(self) -> float | None:
        """Calibrated probability of the predicted class."""
        if self.fake_probability is None:
            return None
        p = self.fake_probability
        return p if self.prediction == "FAKE" else 1 - p


@dataclass
class ImageResult(Verdict):
    path: str = ""
    crop: str = "detect"  # "detect", "none" (given as a face) or "whole-image" (no face found)
    faces: list[FaceScore] = field(default_factory=list)
    # what the file says of where it came from (media.provenance); never changes the score; None: not read
    provenance: dict | None = None


@dataclass
class PersonResult(Verdict):
    person: int = 0
    faces: int = 0
    frames: list[int] = field(default_factory=list)
    frame_probabilities: list[float] = field(default_factory=list)


@dataclass
class VideoResult(Verdict):
    path: str = ""
    frames: int = 0
    total_frames: int = 0
    fps: float = 0.0
    faces: list[FaceScore] = field(default_factory=list)
    persons: list[PersonResult] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list, repr=False)  # aligned with faces, when kept
    provenance: dict | None = None  # as ImageResult's
