"""Shared fixtures: real data from ../shared/data when present, and generated media otherwise."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flashivy.media.video import write_video  # noqa: F401 - the tests import it from here

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
FFPP = SHARED / "ffpp_c23"
DIFFUSION = SHARED / "diffusion_faces"


def _need_shared():
    if not FFPP.is_dir():
        pytest.skip(f"real FF++ videos not found at {FFPP} (../shared/data is absent)")


@pytest.fixture(scope="session")
def ffpp_root() -> Path:
    _need_shared()
    return FFPP


@pytest.fixture(scope="session")
def ffpp_fake_video(ffpp_root) -> Path:
    return ffpp_root / "manipulated_sequences/Deepfakes/c23/videos/033_097.mp4"


@pytest.fixture(scope="session")
def ffpp_real_video(ffpp_root) -> Path:
    return ffpp_root / "original_sequences/youtube/c23/videos/033.mp4"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def astronaut_frames(n: int = 40) -> list[np.ndarray]:
    """A public-domain face in a 320x240 view that pans slowly across the photo (a camera move, no pasted
    edges), the frame number painted in a corner: frames with a real face in them."""
    import cv2
    from skimage import data

    photo = cv2.resize(data.astronaut(), (400, 400), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        x = i * 60 // max(1, n - 1)  # a smooth pan, as a camera moves
        canvas = np.ascontiguousarray(photo[20:260, x:x + 320])
        cv2.putText(canvas, str(i), (5, 230), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        frames.append(canvas)
    return frames


def source_frame_of(frame: np.ndarray, sources: list[np.ndarray]) -> int:
    """Which of the frames a video was encoded from a decoded ``frame`` is (the closest in pixels)."""
    return int(np.argmin([np.abs(frame.astype(np.int16) - s).mean() for s in sources]))


def write_face_crops(root, n_videos=6, per_video=4):
    """v1 layout: real crops of the astronaut, 'fake' ones with a blended, recoloured face centre."""
    import cv2

    frames = astronaut_frames(n_videos * per_video)
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
    for v in range(n_videos):
        for f in range(per_video):
            img = cv2.resize(frames[v * per_video + f][:, 40:280], (64, 64))
            cv2.imwrite(str(root / "real" / f"{v:03d}_{f:04d}.jpg"), img)
            fake = img.copy()
            fake[20:44, 20:44] = cv2.GaussianBlur(fake[20:44, 20:44, ::-1], (0, 0), 2)
            cv2.imwrite(str(root / "fake" / f"{v:03d}_{100 + v:03d}_{f:04d}.jpg"), fake)


@pytest.fixture(scope="session")
def face_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "astronaut.mp4", astronaut_frames())


# tkhd display matrices (a, b, c, d in 16.16 fixed point) that make FFmpeg report a display rotation
# of 90, 180 or 270 degrees counter-clockwise, as phones write them.
_ONE, _MINUS_ONE = 0x00010000, 0xFFFF0000
_TKHD_MATRIX = {90: (0, _MINUS_ONE, _ONE, 0), 180: (_MINUS_ONE, 0, 0, _MINUS_ONE), 270: (0, _ONE, _MINUS_ONE, 0)}


def write_rotated_video(path: Path, upright_frames: list[np.ndarray], rotation: int, fps: int = 25) -> Path:
    """A phone-style MP4: frames stored turned by ``rotation`` the other way, plus the display matrix
    that tells every player to turn them back upright."""
    import struct

    stored = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in upright_frames]
    write_video(path, stored, fps=fps)
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd")
    matrix = at + (44 if data[at + 4] == 0 else 56)  # after the version 0 / version 1 header fields
    a, b, c, d = _TKHD_MATRIX[rotation]
    struct.pack_into(">9I", data, matrix, a, b, 0, c, d, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def face_crop() -> np.ndarray:
    """The astronaut's face as a 224 px crop, as the face detector would cut it."""
    import cv2
    from skimage import data

    return np.ascontiguousarray(cv2.resize(data.astronaut()[0:300, 90:390], (224, 224)))


def crop_folder(root: Path, face: np.ndarray, n_videos: int = 4, per_video: int = 3) -> Path:
    """v1 layout from one face: real crops, and fakes whose centre is blurred."""
    import cv2

    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
    for v in range(n_videos):
        for f in range(per_video):
            img = np.clip(face.astype(int) + 6 * f - 4 * v, 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / "real" / f"{v:03d}_{f:04d}.jpg"), img[..., ::-1])
            fake = img.copy()
            fake[70:150, 60:160] = cv2.GaussianBlur(fake[70:150, 60:160], (0, 0), 3)
            cv2.imwrite(str(root / "fake" / f"{v:03d}_{100 + v:03d}_{f:04d}.jpg"), fake[..., ::-1])
    return root


@pytest.fixture(scope="session")
def diffusion_crops(tmp_path_factory) -> Path:
    """Face crops of 3 photos and 3 FLUX portraits of each of the three people, and 9 SD 2.1 portraits."""
    import csv
    import shutil

    from flashivy.app.cli import main

    if not DIFFUSION.is_dir():
        pytest.skip(f"{DIFFUSION} not found (../shared/data is absent)")
    with open(DIFFUSION / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked, taken = [], {}
    for row in rows:
        key = (row["generator"], row["person"]) if row["person"] else (row["generator"], "")
        if taken.get(key, 0) < (9 if row["generator"] == "stable-diffusion-2.1" else 3):
            taken[key] = taken.get(key, 0) + 1
            picked.append(row)
    src = tmp_path_factory.mktemp("diffusion") / "diffusion_faces"
    for row in picked:
        (src / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DIFFUSION / row["path"], src / row["path"])
    with open(src / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    out = src.parent / "crops"
    assert main(["faces", str(src), "-o", str(out)]) == 0
    return out
