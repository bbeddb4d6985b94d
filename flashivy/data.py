"""Training data: face-crop samples from indexes or v1 folders, splits by group, the torch Dataset.

A *group* is the unit that never straddles train and validation: an FF++
pair component, a DFDC source video. Splits are by group, never by frame.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .images import gaussian_blur, gaussian_noise, jpeg, rescale
from .layout import group_ids

LABELS = ("real", "fake")  # class order: index 1 is "fake", the positive class


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # 0 real, 1 fake
    video: str
    group: str
    source: str  # which dataset it came from, e.g. "ffpp" or "dfdc"
    method: str = ""


def load_source(root: str | Path, source: str | None = None) -> list[Sample]:
    """Face crops under ``root``: a crop index (``index.csv``) or v1's ``{real,fake}/<video>_<frame>.jpg``."""
    from .crops import INDEX_NAME, read_index

    root = Path(root)
    source = source or root.name
    index = root / INDEX_NAME if root.is_dir() else root
    if index.is_file() and index.suffix == ".csv":
        base = index.parent
        return [Sample(base / r.path, LABELS.index(r.label), r.video, r.group, source, r.method)
                for r in read_index(index) if r.path and r.label in LABELS]
    files = [(p, label) for label in LABELS for p in sorted((root / label).glob("*.jpg"))] if root.is_dir() else []
    if not files:
        raise UserError(f"{root}: no crop index and no {{real,fake}}/*.jpg face crops")
    videos = [p.stem.rsplit("_", 1)[0] for p, _ in files]
    groups = group_ids(videos)
    return [Sample(p, LABELS.index(label), v, groups[v], source) for (p, label), v in zip(files, videos)]


def group_rank(group: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{group}".encode()).hexdigest()


def split_by_group(samples: list[Sample], val_fraction: float = 0.2, seed: int = 0,
                   ) -> tuple[list[Sample], list[Sample]]:
    """Train/validation split by group, stratified by source and label.

    Within each source, the groups of real and of fake samples are ordered by
    a seeded hash and the first ``val_fraction`` of each go to validation;
    a group holding both labels goes where its first label put it.
    """
    val_groups: set[tuple[str, str]] = set()
    by_key: dict[tuple[str, int], set[str]] = {}
    for s in samples:
        by_key.setdefault((s.source, s.label), set()).add(s.group)
    decided: set[tuple[str, str]] = set()
    for (source, _label), groups in sorted(by_key.items()):
        fresh = sorted((g for g in groups if (source, g) not in decided), key=lambda g: group_rank(g, seed))
        n_val = round(len(groups) * val_fraction)
        already = sum((source, g) in val_groups for g in groups)
        for g in fresh[:max(0, n_val - already)]:
            val_groups.add((source, g))
        decided.update((source, g) for g in groups)
    train = [s for s in samples if (s.source, s.group) not in val_groups]
    val = [s for s in samples if (s.source, s.group) in val_groups]
    return train, val


def read_splits(path: str | Path) -> dict[str, str]:
    """A run's ``splits.json`` as ``"source:group"`` -> ``"train"`` / ``"val"`` / ``"test"``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: splits file not found")
    splits = json.loads(path.read_text())
    return {g: part for part in ("train", "val", "test") for g in splits.get(part, [])}


def split_by_official_lists(samples: list[Sample], split_dir: str | Path) -> dict[str, list[Sample]]:
    """Use FF++'s official ``train.json`` / ``val.json`` / ``test.json`` (lists of [target, source] ids).

    A video goes where its ids are listed (val and test win over train); ids in no list go to train.
    """
    split_dir = Path(split_dir)
    where: dict[str, str] = {}
    for name in ("train", "val", "test"):
        path = split_dir / f"{name}.json"
        if not path.is_file():
            raise UserError(f"{path}: official split file not found")
        for pair in json.loads(path.read_text()):
            for vid in pair:
                where[str(vid)] = name if where.get(str(vid)) in (None, "train") else where[str(vid)]
    parts: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for s in samples:
        stem = bare_video(s)
        names = {where.get(i, "train") for i in stem.split("_")}
        parts["test" if "test" in names else "val" if "val" in names else "train"].append(s)
    return parts


def bare_video(s: Sample) -> str:
    """The video's name without the method prefix some layouts give it (``Deepfakes_033_097`` -> ``033_097``)."""
    return s.video[len(s.method) + 1:] if s.method and s.video.startswith(s.method + "_") else s.video


def describe(samples: list[Sample]) -> dict:
    """Counts per source and label, with groups and (for fakes) manipulation methods: the data
    summary stored in checkpoints, so a model says which kinds of fakes it was trained on."""
    out: dict = {}
    for (source, label), n in sorted(Counter((s.source, LABELS[s.label]) for s in samples).items()):
        mine = [s for s in samples if s.source == source and LABELS[s.label] == label]
        out.setdefault(source, {})[label] = {"crops": n, "groups": len({s.group for s in mine})}
        methods = Counter(s.method for s in mine if s.method and s.method != "original")
        if label == "fake" and methods:
            out[source][label]["methods"] = dict(sorted(methods.items()))
    return out


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
        from .layout import target_video

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
            raise UserError(f"pairs: source {source!r} has no {LABELS[1 - label]} face to pair with")
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


def to_tensor(img: np.ndarray, mean, std):
    """RGB uint8 (H, W, 3) -> normalised float tensor (3, H, W)."""
    import torch

    if not (img.flags.writeable and img.flags.c_contiguous):
        img = np.array(img)  # torch cannot wrap read-only or strided arrays
    x = torch.from_numpy(img).permute(2, 0, 1).float().div_(255)
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


class FaceDataset:
    """A torch-compatible dataset of face crops -> (tensor, label, index).

    With ``self_blend`` > 0 (training only), a real crop that has landmarks is
    turned, with that probability, into a self-blended pseudo-fake labelled fake;
    index ``i + len(samples)`` is always sample i's self-blended twin.
    With ``boundary_size`` > 0 (training only) an item also has its blending
    boundary map (1, size, size): the blend's for a pseudo-fake, zeros for a
    real face, ``boundary.UNKNOWN`` for a real fake (see ``flashivy.boundary``).
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
        img = cv2.imread(str(s.path), cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"{s.path}: cannot read the face crop")
        img = img[..., ::-1]
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
