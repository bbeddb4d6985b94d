"""The training set as torch sees it: balanced sampling weights, paired draws, augmentation and the
``FaceDataset`` that decodes, self-blends and normalises each face (:mod:`flashivy.models.preprocess`)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..datasets.samples import LABELS, Sample, bare_video
from ..media.images import gaussian_blur, gaussian_noise, jpeg, load_image, rescale
from ..models.preprocess import to_tensor


def balanced_weights(samples: list[Sample]) -> np.ndarray:
    """Sampling weights giving every (source, label) cell the same share of an epoch."""
    counts = Counter((s.source, s.label) for s in samples)
    return np.array([1.0 / counts[(s.source, s.label)] for s in samples], dtype=np.float64)


class Partners:
    """Who goes with whom in a paired batch (samples drawn two by two, a real face beside a fake one).

    A real face's partner is its own self-blended twin (index ``i + len(samples)`` of ``FaceDataset``): always
    at ``twin_share`` 1, else in that share of draws and otherwise a fake made from its video (else from its
    group); with no landmarks, always such a fake (else any of its source). A fake face's partner is a real
    face of the video it was made from (``layout.target_video``), else of its group, else of its source.
    Pairing leaves the model nothing but the manipulation to tell the two apart: not the person, the scene
    or the camera.
    """

    def __init__(self, samples: list[Sample], blendable: list[bool], twin_share: float = 1.0):
        from ..media.layout import target_video

        self.n, self.blendable, self.twin_share, self.keys = len(samples), blendable, twin_share, []
        self.of_video: dict[tuple[str, str, int], list[int]] = {}  # (source, video made from, label)
        self.by_group: dict[tuple[str, str, int], list[int]] = {}
        self.by_source: dict[tuple[str, int], list[int]] = {}
        for i, s in enumerate(samples):
            video = target_video(bare_video(s))  # a real video's is its own name
            self.keys.append((s.source, s.group, s.label, video))
            self.of_video.setdefault((s.source, video, s.label), []).append(i)
            self.by_group.setdefault((s.source, s.group, s.label), []).append(i)
            self.by_source.setdefault((s.source, s.label), []).append(i)
        # each face's own partners of the other label: of the video it was made from (or made from it), else its group
        self.own = [self.of_video.get((source, video, 1 - label)) or self.by_group.get((source, group, 1 - label))
                    for source, group, label, video in self.keys]

    def __call__(self, i: int, rng: np.random.Generator) -> int:
        source, _, label, _ = self.keys[i]
        own = self.own[i]
        # the twin draw only when it can go either way, so that twin_share 1 draws as it always did
        if label == 0 and self.blendable[i] and (
                self.twin_share >= 1 or not own or rng.random() < self.twin_share):
            return i + self.n
        pool = own or self.by_source.get((source, 1 - label))
        if not pool:
            raise InputError(f"pairs: source {source!r} has no {LABELS[1 - label]} face to pair with")
        return pool[int(rng.integers(len(pool)))]


# --- augmentation: what users' files go through (pure functions on RGB uint8 arrays) ---

def augment(img: np.ndarray, rng: np.random.Generator, mask: np.ndarray | None = None,
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Random flip, small shift/scale, colour, blur, resize, noise and JPEG re-encoding.

    A ``mask`` of the same size (a self-blended face's) follows the flip and the shift/scale.
    """
    import cv2

    h, w = img.shape[:2]
    if rng.random() < 0.5:
        img = img[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if rng.random() < 0.5:
        scale = rng.uniform(0.9, 1.1)
        tx, ty = rng.uniform(-0.05, 0.05, 2) * w
        m = np.float32([[scale, 0, (1 - scale) * w / 2 + tx], [0, scale, (1 - scale) * h / 2 + ty]])
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (w, h), borderMode=cv2.BORDER_REPLICATE)
        if mask is not None:
            mask = cv2.warpAffine(np.ascontiguousarray(mask), m, (w, h), borderMode=cv2.BORDER_CONSTANT)
    if rng.random() < 0.5:
        hsv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-5, 5)) % 180
        hsv[..., 1] *= rng.uniform(0.8, 1.2)
        hsv[..., 2] = hsv[..., 2] * rng.uniform(0.8, 1.2) + rng.uniform(-15, 15)
        img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    if rng.random() < 0.2:
        img = gaussian_blur(img, rng.uniform(0.3, 1.5))
    if rng.random() < 0.25:
        img = rescale(img, rng.uniform(0.4, 0.9))
    if rng.random() < 0.1:
        img = gaussian_noise(img, rng.uniform(2, 8), rng)
    if rng.random() < 0.6:
        img = jpeg(img, rng.integers(40, 96))
    return np.ascontiguousarray(img), mask


class FaceDataset:
    """A torch-compatible dataset of face crops -> (tensor, label, index).

    With ``self_blend`` > 0 (training only), a real crop that has landmarks is
    turned, with that probability, into a self-blended pseudo-fake labelled fake;
    index ``i + len(samples)`` is always sample i's self-blended twin.
    With ``boundary_size`` > 0 (training only) an item also has its blending
    boundary map (1, size, size): the blend's for a pseudo-fake, zeros for a
    real face, ``boundary.UNKNOWN`` for a real fake (see ``flashivy.training.boundary``).
    """

    def __init__(self, samples: list[Sample], size: int, mean, std, train: bool, seed: int = 0,
                 self_blend: float = 0.0, landmarks: dict[str, np.ndarray] | None = None, boundary_size: int = 0):
        self.samples, self.size, self.mean, self.std, self.train, self.seed = samples, size, mean, std, train, seed
        self.self_blend, self.landmarks = self_blend, landmarks or {}
        self.boundary_size = boundary_size if train else 0
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def _points(self, s: Sample) -> np.ndarray | None:
        return self.landmarks.get(str(Path(s.path).resolve()))

    def blendable(self) -> list[bool]:
        """Per sample: a real face with landmarks, which can become a self-blended pseudo-fake."""
        return [s.label == 0 and self._points(s) is not None for s in self.samples]

    def __getitem__(self, i: int):
        import cv2

        twin = i >= len(self.samples)  # the self-blended twin of a real face (paired batches, see ``Partners``)
        s = self.samples[i - len(self.samples) if twin else i]
        img = np.array(load_image(s.path))  # a writable copy: blending and augmentation may work in place
        label, mask = float(s.label), None
        # Seeded per (epoch, item) so that runs are reproducible whatever the worker layout.
        rng = np.random.default_rng((self.seed, self.epoch, i))
        if twin or (self.train and self.self_blend and s.label == 0 and rng.random() < self.self_blend):
            points = self._points(s)
            if points is not None:
                from .blend import self_blend

                img, mask = self_blend(np.ascontiguousarray(img), points, rng)
                label = 1.0
        if img.shape[0] != self.size or img.shape[1] != self.size:
            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
            mask = None if mask is None else cv2.resize(mask, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.train:
            img, mask = augment(img, rng, mask)
        x = to_tensor(img, self.mean, self.std)
        if not self.boundary_size:
            return x, label, i
        return x, label, i, self._boundary(label, mask)

    def _boundary(self, label: float, mask: np.ndarray | None):
        import torch

        from .boundary import UNKNOWN, boundary_map

        n = self.boundary_size
        if mask is not None:
            target = boundary_map(mask, n)
        else:
            target = np.full((n, n), UNKNOWN if label else 0.0, np.float32)
        return torch.from_numpy(target)[None]
