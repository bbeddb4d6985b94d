"""Quality warnings: said beside the verdict for small, blurred, heavily compressed faces; none on a clean face."""
import json

import cv2
import numpy as np
import pytest
from conftest import astronaut_frames, write_video
from PIL import Image

from flashivy.inference import quality
from flashivy.inference.batch import record


@pytest.fixture(scope="module")
def detector():
    from flashivy.inference.detector import Detector

    return Detector.from_checkpoint()


def _save(path, rgb, quality=95):
    Image.fromarray(rgb).save(path, quality=quality)
    return path


def codes(result):
    return [w.code for w in result.warnings]


def test_clean_real_face_has_no_warning(tmp_path, detector, astronaut):
    result = detector.predict_image(_save(tmp_path / "clean.jpg", astronaut))
    assert result.prediction == "REAL" and result.crop == "detect"
    assert codes(result) == []


def test_small_face_is_warned_and_still_judged(tmp_path, detector, astronaut):
    canvas = np.full((480, 640, 3), 90, np.uint8)
    small = cv2.resize(astronaut, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)  # a ~40 px face box
    canvas[100:100 + small.shape[0], 200:200 + small.shape[1]] = small
    result = detector.predict_image(_save(tmp_path / "small.jpg", canvas))
    assert result.crop == "detect", "the detector must find the small face for this test to mean anything"
    assert min(b[2] - b[0] for b in [f.box for f in result.faces]) < quality.MIN_FACE_PX
    assert "small_face" in codes(result)
    # a warning never hides the verdict: the small real face is still judged (REAL, fake probability 0.17)
    assert result.prediction == "REAL" and result.fake_probability < 0.4


def test_no_face_found_is_warned_beside_the_whole_image_score(tmp_path, detector, astronaut):
    canvas = np.full((480, 640, 3), 90, np.uint8)
    tiny = cv2.resize(astronaut, None, fx=0.2, fy=0.2, interpolation=cv2.INTER_AREA)  # too small to detect
    canvas[150:150 + tiny.shape[0], 250:250 + tiny.shape[1]] = tiny
    result = detector.predict_image(_save(tmp_path / "tiny.jpg", canvas))
    assert result.crop == "whole-image" and "no_face_found" in codes(result)
    assert result.fake_probability is not None


def test_blurred_face_is_warned(tmp_path, detector, astronaut):
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 5)
    result = detector.predict_image(_save(tmp_path / "blur.jpg", blurred))
    assert "blurred_face" in codes(result)
    assert "small_face" not in codes(result)
    # judged all the same, and close to the threshold, which its own warning says (fake probability 0.42)
    assert result.prediction == "REAL" and "near_threshold" in codes(result)


def test_heavy_jpeg_is_warned(tmp_path, detector, astronaut):
    path = _save(tmp_path / "q15.jpg", astronaut, quality=15)
    assert quality.jpeg_quality(path) == 15
    assert "heavy_compression" in codes(detector.predict_image(path))


def test_jpeg_quality_estimate_matches_the_encoder(tmp_path, astronaut):
    for q in (20, 45, 75, 95):
        assert quality.jpeg_quality(_save(tmp_path / f"{q}.jpg", astronaut, quality=q)) == q
    png = tmp_path / "a.png"
    Image.fromarray(astronaut).save(png)
    assert quality.jpeg_quality(png) is None


def test_face_in_a_few_frames_only_is_no_steady_person(tmp_path, detector):
    frames = astronaut_frames(32)
    for i in range(3, 32):  # the face shows in the first three frames only
        frames[i] = np.full_like(frames[i], 40)
    result = detector.predict_video(write_video(tmp_path / "glimpse.mp4", frames), num_frames=32)
    assert result.prediction is not None
    assert "no_steady_person" in codes(result)


def test_steady_face_video_has_no_person_warning(detector, face_video):
    result = detector.predict_video(face_video)
    assert not {"no_steady_person", "mixed_persons"} & set(codes(result))


def test_person_and_threshold_rules():
    assert [w.code for w in quality.person_warnings([0.9, 0.1], 30, 32, 0.5, 0.25)] == ["mixed_persons"]
    assert quality.person_warnings([0.9, 0.8], 30, 32, 0.5, 0.25) == []
    assert [w.code for w in quality.person_warnings([0.9], 5, 32, 0.5, 0.25)] == ["no_steady_person"]
    assert [w.code for w in quality.near_threshold(0.55, 0.5)] == ["near_threshold"]
    assert quality.near_threshold(0.95, 0.5) == [] and quality.near_threshold(None, 0.5) == []


def test_sharpness_falls_with_blur(astronaut):
    crop = cv2.resize(astronaut[20:260, 130:370], (224, 224))
    values = [quality.sharpness(cv2.GaussianBlur(crop, (0, 0), s) if s else crop) for s in (0, 1, 2, 4)]
    assert values == sorted(values, reverse=True) and values[0] > 4 * values[-1]


def test_json_record_carries_the_warnings(tmp_path, detector, astronaut):
    result = detector.predict_image(_save(tmp_path / "b.jpg", cv2.GaussianBlur(astronaut, (0, 0), 5)))
    rec = json.loads(json.dumps(record(result, tmp_path / "b.jpg", "image", None)))
    assert rec["prediction"] == result.prediction == "REAL"
    assert rec["fake_probability"] == pytest.approx(result.fake_probability)
    assert {"code": "blurred_face", "message": next(w.message for w in result.warnings
                                                    if w.code == "blurred_face")} in rec["warnings"]
