"""Self-blended images: pseudo-fakes made from real faces only.

After Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images"
(CVPR 2022): a face is blended into a slightly altered copy of itself, inside
a deformed, blurred mask of the face. The result carries the generic traces of
face swapping (a blending boundary, colour and sharpness mismatch, small
misalignment) without the fingerprints of any one method, so a detector
trained on it has to learn those traces.

Landmarks come from MediaPipe FaceMesh and are computed once per crop folder
(``landmarks.npz``), not per epoch.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputError, UserError

LANDMARKS_FILE = "landmarks.npz"
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


class Landmarker:
    """MediaPipe FaceMesh on face crops: 468 points (x, y) in pixels, or None when no face."""

    def __init__(self):
        from ..faces.detectors import quiet_native_stderr

        with quiet_native_stderr():
            from mediapipe.python.solutions import face_mesh

            self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                                            min_detection_confidence=0.3)
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        from ..faces.detectors import quiet_native_stderr

        with quiet_native_stderr():  # MediaPipe logs a projection warning per new image size
            found = self._mesh.process(np.ascontiguousarray(rgb)).multi_face_landmarks
        if not found:
            return None
        h, w = rgb.shape[:2]
        return np.array([(p.x * w, p.y * h) for p in found[0].landmark], np.float32)


# --- the blend itself: pure functions on arrays ---

def hull_mask(shape: tuple[int, int], points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convex hull of the landmarks; one time in four only part of it (a half cut at a random place)."""
    import cv2

    h, w = shape
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 1.0)
    if rng.random() < 0.25:
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
        vertical = rng.random() < 0.5
        lo, hi = (y0, y1) if vertical else (x0, x1)
        cut = int(rng.uniform(lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo)))
        side = slice(None, cut) if rng.random() < 0.5 else slice(cut, None)
        partial = mask.copy()
        if vertical:
            partial[side] = 0
        else:
            partial[:, side] = 0
        if partial.any():
            mask = partial
    return mask


def deform_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Elastic deformation, random erosion or dilation, then a Gaussian blur: a soft, irregular boundary."""
    import cv2

    h, w = mask.shape
    sigma, alpha = rng.uniform(4, 8) * w / 224, rng.uniform(5, 15) * w / 224
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha * sigma
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma) * alpha * sigma
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mask = cv2.remap(mask, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    k = int(rng.integers(1, 8)) * 2 + 1
    kernel = np.ones((k, k), np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(2, 8) * w / 224)
    peak = mask.max()
    return mask / peak if peak > 0 else mask


def alter_source(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The copy that is blended in: colour shifted, then sharpened or down/up-scaled, shifted and rescaled."""
    import cv2

    from ..media.images import rescale

    out = img.astype(np.float32)
    out += rng.uniform(-20, 20, 3)  # RGB shift
    out = (out - out.mean()) * rng.uniform(0.85, 1.15) + out.mean() + rng.uniform(-15, 15)  # contrast, brightness
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6)) % 180
    hsv[..., 1] *= rng.uniform(0.85, 1.15)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    if rng.random() < 0.5:
        blurred = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 1.5))
        out = cv2.addWeighted(out, 1.6, blurred, -0.6, 0)  # unsharp mask
    else:
        out = rescale(out, rng.uniform(0.5, 0.9))
    h, w = out.shape[:2]
    scale = rng.uniform(0.95, 1.05)
    tx, ty = rng.uniform(-0.03, 0.03, 2) * (w, h)
    m = np.float32([[scale, 0, (1 - scale) * w / 2 + tx], [0, scale, (1 - scale) * h / 2 + ty]])
    return cv2.warpAffine(out, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def self_blend(img: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A pseudo-fake from one real face and its landmarks: ``(blended RGB uint8, mask in [0, 1])``."""
    mask = deform_mask(hull_mask(img.shape[:2], points, rng), rng) * rng.choice(BLEND_RATIOS)
    source = alter_source(img, rng).astype(np.float32)
    m = mask[..., None]
    blended = source * m + img.astype(np.float32) * (1 - m)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8), mask


# --- landmarks cache beside the crops ---

def compute_landmarks(paths: list[Path], root: Path, progress: bool = True) -> Path:
    """FaceMesh on every crop; ``root/landmarks.npz`` maps relative paths to (468, 2) points."""
    from tqdm import tqdm

    from ..media.images import load_image

    marker = Landmarker()
    names, points = [], []
    for path in tqdm(paths, desc="landmarks", unit="crop", disable=not progress):
        try:
            found = marker(load_image(path))
        except UserError:
            found = None
        if found is not None:
            names.append(str(Path(path).resolve().relative_to(root.resolve())))
            points.append(found.astype(np.float16))
    out = root / LANDMARKS_FILE
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, names=np.array(names), points=np.stack(points) if points
                            else np.zeros((0, 468, 2), np.float16))
    return out


def load_landmarks(root: Path) -> dict[str, np.ndarray]:
    """Absolute crop path -> landmarks, from ``root/landmarks.npz`` (empty when there is none)."""
    path = root / LANDMARKS_FILE
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {str((root / n).resolve()): p.astype(np.float32) for n, p in zip(data["names"], data["points"])}


def blend_sheet(paths: list[Path], out: Path, n: int = 6, seed: int = 0) -> Path:
    """Rows of real / pseudo-fake / mask, to see what the model learns from."""
    from ..media.images import load_image
    from ..media.sheets import contact_sheet, save_png

    marker, rng = Landmarker(), np.random.default_rng(seed)
    tiles, captions = [], []
    for path in paths:
        if len(tiles) >= 3 * n:
            break
        img = load_image(path)
        points = marker(img)
        if points is None:
            continue
        fake, mask = self_blend(img, points, rng)
        tiles += [img, fake, (np.repeat(mask[..., None], 3, 2) * 255).astype(np.uint8)]
        captions += [f"real {Path(path).stem}"[:28], "self-blended", f"mask (max {mask.max():.2f})"]
    if not tiles:
        raise InputError("no face found in the given crops")
    return save_png(out, contact_sheet(tiles, captions, cols=6, tile=160))
