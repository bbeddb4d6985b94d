"""The inference API: ``Detector.from_checkpoint(path).predict_image(...) / .predict_video(...)``.

Faces are found and cropped exactly as in training (same detector, margin,
size, from the checkpoint's metadata), scored in batches, calibrated with the
checkpoint's temperature, tracked across video frames into persons, and
aggregated by swappable functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from .boxes import iou
from .checkpoint import DEFAULT_CHECKPOINT, read_metadata
from .images import load_image
from .errors import UserError
from .faces import Face, create_detector, crop_face
from .kinds import heads_of
from .metrics import calibrated_probs
from .quality import (NO_FACE, QualityWarning, compression_warning, face_warnings, jpeg_quality, near_threshold,
                      person_warnings)
from .runtime import Scorer, TorchScorer, normalise, open_scorer
from .timeouts import check
from .video import VideoInfo, prefetch, sample_frames

Aggregate = Callable[[Sequence[float]], float]
# (video path, frames wanted) -> (VideoInfo, iterator of (frame index, RGB uint8 frame)): where frames come from
FrameReader = Callable[[str | Path, int], tuple[VideoInfo, Iterator[tuple[int, np.ndarray]]]]


def mean_probability(probs: Sequence[float]) -> float:
    return float(np.mean(probs))


def most_fake_person(person_probs: Sequence[float]) -> float:
    """A video is as fake as its most fake person: one swapped face makes a fake video."""
    return float(max(person_probs))


def kind_scores(per_kind: dict[str, Sequence[float]], aggregate: Aggregate) -> dict[str, float]:
    """Each kind's probabilities aggregated alone (a fake of one kind is found by its own head), over the
    faces its head ran on (NaN where it did not: in videos the later heads see a subset of frames)."""
    seen = {kind: [p for p in probs if not np.isnan(p)] for kind, probs in per_kind.items()}
    return {kind: aggregate(probs) for kind, probs in seen.items() if probs}


def known(scores: Sequence[float], kinds: Sequence[str]) -> dict[str, float]:
    """One face's probability per kind, the heads that did not run on it left out."""
    return {kind: float(p) for kind, p in zip(kinds, scores) if not np.isnan(p)}


def fake_of_any_kind(scores: dict[str, float]) -> float | None:
    """The fake probability: that of the most likely kind of fake."""
    return max(scores.values()) if scores else None


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


def track(faces_per_frame: list[tuple[int, list[Face]]], min_iou: float = 0.3) -> list[list[tuple[int, Face]]]:
    """Greedy IoU tracker: each face joins the person whose last box overlaps it most."""
    tracks: list[list[tuple[int, Face]]] = []
    for frame, faces in faces_per_frame:
        taken: set[int] = set()
        for face in sorted(faces, key=lambda f: f.area, reverse=True):
            best, best_iou = None, min_iou
            for t, tr in enumerate(tracks):
                if t in taken or tr[-1][0] == frame:
                    continue
                overlap = iou(tr[-1][1].box, face.box)[0]
                if overlap >= best_iou:
                    best, best_iou = t, overlap
            if best is None:
                tracks.append([(frame, face)])
                taken.add(len(tracks) - 1)
            else:
                tracks[best].append((frame, face))
                taken.add(best)
    return tracks


class Detector:
    """The deepfake detector: a loaded model plus the face pipeline it was trained with.

    (Faces themselves are found by a :class:`flashivy.faces.FaceDetector`, its ``face_detector``.)"""

    def __init__(self, scorer: Scorer, meta: dict, batch_size: int = 16, threshold: float | None = None,
                 face_aggregate: Aggregate = mean_probability, video_aggregate: Aggregate = most_fake_person,
                 min_person_share: float = 0.25, later_heads_every: int = 4, checkpoint: Path | None = None,
                 read_frames: FrameReader = sample_frames):
        self.scorer, self.meta, self.batch_size, self.checkpoint = scorer, meta, batch_size, checkpoint
        self._torch_model = None
        self.threshold = meta.get("threshold", 0.5) if threshold is None else threshold
        self.heads = heads_of(meta)  # one calibration per kind of fake, in the model's output order
        self.kinds = [h["kind"] for h in self.heads]
        crop = meta["crop"]
        self.margin, self.size = crop["margin"], crop["size"]
        self._face_detector = None
        self._detector_name = crop["detector"]
        self.face_aggregate, self.video_aggregate = face_aggregate, video_aggregate
        self.min_person_share = min_person_share
        # In videos the heads after the first (generated faces: a property of the face, not of the frame) see
        # every k-th sampled frame; 1 runs them on all. The face-swap head always sees every frame.
        self.later_heads_every = later_heads_every
        self.read_frames = read_frames  # swappable: frames from a camera, a frame dump, another decoder
        # Applied to every decoded image or frame before anything else (robustness evaluation).
        self.frame_transform: Callable[[np.ndarray], np.ndarray] | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto", backend: str = "auto",
                        **kwargs) -> "Detector":
        """Load a checkpoint (the shipped default when ``path`` is None); see :func:`open_scorer` for backends."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise UserError(f"{path}: no such checkpoint")
        return cls(open_scorer(path, device, backend), read_metadata(path), checkpoint=path, **kwargs)

    @property
    def model(self):
        """The PyTorch model (Grad-CAM needs gradients); loaded on first use when scoring runs on ONNX."""
        if isinstance(self.scorer, TorchScorer):
            return self.scorer.model
        if self._torch_model is None:
            from .checkpoint import load_checkpoint

            self._torch_model = load_checkpoint(self.checkpoint or DEFAULT_CHECKPOINT, device="cpu")[0]
        return self._torch_model

    @property
    def device(self):
        """Where :attr:`model` runs."""
        return self.scorer.device if isinstance(self.scorer, TorchScorer) else "cpu"

    @property
    def face_detector(self):
        if self._face_detector is None:  # lazily: --crop none never needs it
            self._face_detector = create_detector(self._detector_name)
        return self._face_detector

    def kind_probabilities(self, crops: Sequence[np.ndarray], every_head: Sequence[bool] | None = None) -> np.ndarray:
        """Calibrated probabilities of each kind of fake (columns in ``self.kinds`` order), shape (N, kinds),
        for face crops (RGB uint8, any size). With ``every_head``, the heads after the first run only on
        the crops it marks (ONNX Runtime skips them elsewhere) and are NaN on the others."""
        import cv2

        out = []
        for i in range(0, len(crops), self.batch_size):
            batch = [c if c.shape[:2] == (self.size, self.size)
                     else cv2.resize(c, (self.size, self.size), interpolation=cv2.INTER_AREA)
                     for c in crops[i:i + self.batch_size]]
            rows = None if every_head is None else np.flatnonzero(every_head[i:i + self.batch_size])
            logits = self.scorer.logits(normalise(batch, self.meta["mean"], self.meta["std"]), rows)
            out.append(np.stack([calibrated_probs(logits[:, k], h["temperature"], h["bias"])
                                 for k, h in enumerate(self.heads)], axis=1))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(self.heads)), np.float32)

    def score_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Calibrated fake probabilities (of any kind) of face crops."""
        return self.kind_probabilities(crops).max(axis=1)  # every head ran: no NaN

    def _by_kind(self, probs: np.ndarray) -> dict[str, list[float]]:
        return {kind: probs[:, k].tolist() for k, kind in enumerate(self.kinds)}

    def predict_image(self, image: str | Path | np.ndarray, crop: str = "auto") -> ImageResult:
        """Score one image: its faces (``detect``), the image as a face (``none``), or ``auto``."""
        if crop not in ("auto", "detect", "none"):
            raise UserError(f"unknown crop mode {crop!r}: use auto, detect or none")
        path = "" if isinstance(image, np.ndarray) else str(image)
        rgb = image if isinstance(image, np.ndarray) else load_image(image)
        if self.frame_transform is not None:
            rgb = self.frame_transform(rgb)
        faces = [] if crop == "none" else self.face_detector.detect(rgb)
        if not faces:
            if crop == "detect":
                raise UserError(f"{path or 'image'}: no face found (use --crop none for an already cropped face)")
            h, w = rgb.shape[:2]
            boxes, crops, mode = [(0.0, 0.0, float(w), float(h))], [rgb], "none" if crop == "none" else "whole-image"
        else:
            boxes, mode = [f.box for f in faces], "detect"
            crops = [crop_face(rgb, f.box, self.margin, self.size) for f in faces]
        probs = self.kind_probabilities(crops)
        face_scores = [FaceScore(0, box, float(p.max()), person=i, scores=dict(zip(self.kinds, p.tolist())))
                       for i, (box, p) in enumerate(zip(boxes, probs))]
        scores = kind_scores(self._by_kind(probs), self.video_aggregate)
        prob = fake_of_any_kind(scores)
        warnings = ([NO_FACE] if mode == "whole-image" else []) + self._image_warnings(path, boxes, crops, prob)
        return ImageResult(prob, self.threshold, warnings, scores, path=path, crop=mode, faces=face_scores)

    def every_head_on(self, ordinal: int) -> bool:
        """Whether the heads after the first score the faces of a video's ``ordinal``-th sampled frame."""
        return ordinal % self.later_heads_every == 0

    def _complete_later_heads(self, tracks: list, prob_of: dict, crop_of: dict) -> None:
        """A person whose faces all fell on frames the later heads skipped gets them on its first face."""
        for tr in tracks:
            keys = [(index, f.box) for index, f in tr]
            if np.isnan(np.array([prob_of[k] for k in keys])).all(axis=0).any():
                prob_of[keys[0]] = self.kind_probabilities([crop_of[keys[0]]])[0]

    def _image_warnings(self, path: str, boxes: list, crops: list, prob: float) -> list[QualityWarning]:
        return (face_warnings(boxes, crops) + compression_warning(jpeg_quality(path) if path else None)
                + near_threshold(prob, self.threshold))

    def predict_video(self, path: str | Path, num_frames: int = 32, keep_crops: bool = False) -> VideoResult:
        """Sample frames, find and track faces, score them, aggregate per person and per video.

        ``keep_crops`` keeps the face crops in the result (aligned with ``faces``) for explanations.
        """
        info, frames = self.read_frames(path, num_frames)
        faces_per_frame, crops, every_head, probs, n_frames = [], [], [], [], 0
        for index, frame in prefetch(frames):
            check()  # the per-file time limit of batch runs
            n_frames += 1
            if self.frame_transform is not None:
                frame = self.frame_transform(frame)
            faces = self.face_detector.detect(frame)
            faces_per_frame.append((index, faces))
            crops += [crop_face(frame, f.box, self.margin, self.size) for f in faces]
            every_head += [self.every_head_on(n_frames - 1)] * len(faces)
            if len(crops) - len(probs) >= self.batch_size:  # score while the next frames decode
                probs += list(self.kind_probabilities(crops[len(probs):], every_head[len(probs):]))
        if n_frames == 0:
            raise UserError(f"{path}: no frame could be decoded")
        probs += list(self.kind_probabilities(crops[len(probs):], every_head[len(probs):]))
        keys = [(index, f.box) for index, faces in faces_per_frame for f in faces]
        prob_of, crop_of = dict(zip(keys, probs)), dict(zip(keys, crops))
        tracks = track(faces_per_frame)
        self._complete_later_heads(tracks, prob_of, crop_of)
        persons, scores, kept = [], [], []
        for p, tr in enumerate(tracks):
            track_probs = np.array([prob_of[(index, f.box)] for index, f in tr])
            frame_probs = np.nanmax(track_probs, axis=1).tolist()
            scores += [FaceScore(index, f.box, pr, person=p, scores=known(kp, self.kinds))
                       for (index, f), pr, kp in zip(tr, frame_probs, track_probs)]
            kept += [crop_of[(index, f.box)] for index, f in tr] if keep_crops else []
            person_scores = kind_scores(self._by_kind(track_probs), self.face_aggregate)
            persons.append(PersonResult(fake_of_any_kind(person_scores), self.threshold, scores=person_scores,
                                        person=p, faces=len(tr), frames=[i for i, _ in tr],
                                        frame_probabilities=frame_probs))
        # Short tracks are mostly detector noise; they vote only when nobody else was seen.
        steady = [pr for pr in persons if pr.faces >= self.min_person_share * n_frames] or persons
        video_scores = kind_scores({k: [pr.scores[k] for pr in steady] for k in self.kinds},
                                   self.video_aggregate) if steady else {}
        video_prob = fake_of_any_kind(video_scores)
        counted = {pr.person for pr in steady}
        counted_faces = [f for f in scores if f.person in counted]
        warnings = (face_warnings([f.box for f in counted_faces], [crop_of[(f.frame, f.box)] for f in counted_faces])
                    + compression_warning(bits_per_pixel=info.bits_per_pixel)
                    + person_warnings([pr.fake_probability for pr in steady],
                                      max((pr.faces for pr in persons), default=0), n_frames, self.threshold,
                                      self.min_person_share)
                    + near_threshold(video_prob, self.threshold))
        return VideoResult(video_prob, self.threshold, warnings, video_scores, path=str(path), frames=n_frames,
                           total_frames=info.frames, fps=info.fps, faces=scores, persons=persons, crops=kept)
