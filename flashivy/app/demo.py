"""The README's main job: the shipped model on an embedded sample (a public-domain face).

Uses the astronaut photo of ``skimage.data`` (NASA, public domain; a copy ships in
``flashivy/assets/``) as the image and a short video generated from it, so the demo needs no
download, no footage and nothing beyond the core install.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from ..core.paths import ASSETS_DIR

SAMPLE_IMAGE = ASSETS_DIR / "astronaut.jpg"


def sample_image() -> np.ndarray:
    """The bundled public-domain photo (Eileen Collins, NASA), RGB uint8."""
    from ..media.images import load_image

    return load_image(SAMPLE_IMAGE)


def sample_video(path: Path, frames: int = 48, fps: int = 24) -> Path:
    """A 2-second H.264 clip of the astronaut photo, the camera panning slowly across it.

    A pan, not the photo pasted onto a canvas: pasted edges are what a compositing detector looks
    for, and a real clip has none.
    """
    import cv2

    from ..media.video import write_video

    photo = cv2.resize(sample_image(), (800, 800), interpolation=cv2.INTER_AREA)
    # x from 40: the face (around x 270-440 at this scale) stays in view
    write_video(path, (photo[60:420, 40 + 2 * i:680 + 2 * i] for i in range(frames)), fps=fps)
    return path


def _warnings(result) -> str:
    """The per-kind line (models with several heads), the quality warnings and the file's provenance, a line each."""
    from ..models.kinds import kind_line

    kinds = [kind_line(result.kind, result.scores)] if len(result.scores) > 1 else []
    provenance = [f"provenance: {line}" for line in (result.provenance or {}).get("summary", [])]
    return "".join(f"\n{w}" for w in kinds + result.warnings + provenance)


def run_demo() -> int:
    import shutil

    from ..inference.detector import Detector
    from ..inference.reading import cli_note
    from ..models.checkpoint import DEFAULT_CHECKPOINT

    start = time.perf_counter()
    detector = Detector.from_checkpoint(device="auto")
    print(f"model: {DEFAULT_CHECKPOINT.name} ({detector.meta['architecture']}, "
          f"loaded in {time.perf_counter() - start:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(shutil.copy(SAMPLE_IMAGE, tmp))
        print(f"\nimage: a public-domain photo (NASA) -> predict --image {image.name}")
        t = time.perf_counter()
        result = detector.predict_image(image)
        print(f"Prediction : {result.prediction}\nConfidence : {result.confidence:.4f}")
        print(f"({len(result.faces)} face, {time.perf_counter() - t:.2f} s)" + _warnings(result))
        video = sample_video(Path(tmp) / "astronaut.mp4")
        print(f"\nvideo: a 2 s pan across it -> predict --video {video.name}")
        t = time.perf_counter()
        v = detector.predict_video(video)
        print(f"Prediction : {v.prediction}\nConfidence : {v.confidence:.4f}")
        print(f"({len(v.faces)} faces in {v.frames} frames, {len(v.persons)} person(s), "
              f"{time.perf_counter() - t:.2f} s)" + _warnings(v))
    print(f"\nWhat the confidence means: {cli_note(detector.meta)}")
    print("\nThe astronaut photo is real: REAL is the right answer. Try your own files:\n"
          "  flashivy predict --image FILE | --video FILE | --input FOLDER --json out.jsonl\n"
          "or open the web page: flashivy serve  (http://127.0.0.1:7860)")
    return 0
