"""The inference API: ``Detector.from_checkpoint(path).predict_image(...) / .predict_video(...)``.

Faces are found and cropped exactly as in training (same detector, margin,
size, from the checkpoint's metadata), scored in batches, calibrated with the
checkpoint's temperature, tracked across video frames into persons, and
aggregated by swappable functions.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..core.errors import ConfigError, InputError
from ..core.timeouts import check
from ..faces.detectors import create_detector, crop_face
from ..faces.tracking import track
from ..media.images import load_image
from ..media.provenance import read_provenance
from ..media.video import VideoInfo, prefetch, sample_frames
from ..models.calibration import calibrated_probs
from ..models.checkpoint import DEFAULT_CHECKPOINT, read_metadata
from ..models.kinds import heads_of
from ..models.preprocess import normalise
from .aggregation import (
    Aggregate,
    fake_of_any_kind,
    kind_scores,
    known,
    mean_probability,
    most_fake_person,
)
from .backends import Scorer, TorchScorer, open_scorer
from .quality import (
    NO_FACE,
    QualityWarning,
    compression_warning,
    face_warnings,
    jpeg_quality,
    near_threshold,
    person_warnings,
)
from .results import FaceScore, ImageResult, PersonResult, VideoResult

# (video path, frames wanted) -> (VideoInfo, iterator of (frame index, RGB uint8 frame)): where frames come from
FrameReader = Callable[[str | Path, int], tuple[VideoInfo, Iterator[tuple[int, np.ndarray]]]]


class Detector:
    """The deepfake detector: a loaded model plus the face pipeline it was trained with.

    (Faces themselves are found by a :class:`flashivy.faces.detectors.FaceDetector`, its ``face_detector``.)"""

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
        # In videos the heads after the first see every k-th sampled frame (1: all): a generated face is a
        # property of the face, not of the frame; a fused whole model (training/fuse.py) would otherwise cost a
        # second network per face. The face-swap head always sees every frame.
        self.later_heads_every = later_heads_every
        self.read_frames = read_frames  # swappable: frames from a camera, a frame dump, another decoder
        # Applied to every decoded image or frame before anything else (robustness evaluation).
        self.frame_transform: Callable[[np.ndarray], np.ndarray] | None = None
        # Read what a file says of where it came from (C2PA, XMP, PNG chunks, EXIF) into the result; it never
        # changes a score. Off for bulk evaluation, where only the scores matter.
        self.read_provenance = True

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str = "auto", backend: str = "auto",
                        **kwargs) -> "Detector":
        """Load a checkpoint (the shipped default when ``path`` is None); see :func:`open_scorer` for backends."""
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise ConfigError(f"{path}: no such checkpoint")
        return cls(open_scorer(path, device, backend), read_metadata(path), checkpoint=path, **kwargs)

    @property
    def model(self):
        """The PyTorch model (Grad-CAM needs gradients); loaded on first use when scoring runs on ONNX."""
        if isinstance(self.scorer, TorchScorer):
            return self.scorer.model
        if self._torch_model is None:
            from ..models.checkpoint import load_checkpoint

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
            raise ConfigError(f"unknown crop mode {crop!r}: use auto, detect or none")
        path = "" if isinstance(image, np.ndarray) else str(image)
        rgb = image if isinstance(image, np.ndarray) else load_image(image)
        if self.frame_transform is not None:
            rgb = self.frame_transform(rgb)
        faces = [] if crop == "none" else self.face_detector.detect(rgb)
        if not faces:
            if crop == "detect":
                raise InputError(f"{path or 'image'}: no face found (use --crop none for an already cropped face)")
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
        return ImageResult(prob, self.threshold, warnings, scores, path=path, crop=mode, faces=face_scores,
                           provenance=self.provenance_of(path))

    def provenance_of(self, path: str | Path) -> dict | None:
        """What the file at ``path`` says of where it came from; None for frames handed over in memory."""
        if not (self.read_provenance and path and Path(path).is_file()):
            return None
        return read_provenance(path).as_record()

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
            raise InputError(f"{path}: no frame could be decoded")
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
                           total_frames=info.frames, fps=info.fps, faces=scores, persons=persons, crops=kept,
                           provenance=self.provenance_of(path))
