"""The two inference backends: ONNX Runtime (fast CPU path) and PyTorch give the same scores."""
import shutil

import cv2
import numpy as np
import pytest

from flashivy.checkpoint import DEFAULT_CHECKPOINT
from flashivy.cli import main
from flashivy.detector import Detector
from flashivy.errors import UserError
from flashivy.faces import crop_face
from flashivy.runtime import onnx_path
from flashivy.video import iter_frames

BASELINE = DEFAULT_CHECKPOINT.parent / "baseline.safetensors"


def _crops(astronaut, ffpp_frames):
    det = Detector.from_checkpoint(device="cpu", backend="torch")
    crops = []
    for frame in [astronaut, *ffpp_frames]:
        faces = det.face_detector.detect(frame)
        crops.append(crop_face(frame, faces[0].box) if faces else cv2.resize(frame, (224, 224)))
    return det, crops


@pytest.fixture(scope="module")
def ffpp_frames(request):
    from conftest import FFPP

    video = FFPP / "manipulated_sequences/Deepfakes/c23/videos/033_097.mp4"
    return [f for _, f in iter_frames(video, [10, 200, 400])] if video.exists() else []


def test_shipped_model_runs_on_onnx_runtime_by_default_on_the_cpu():
    assert onnx_path(DEFAULT_CHECKPOINT).exists(), "make install exports it (flashivy export)"
    assert Detector.from_checkpoint(device="cpu").scorer.name == "onnx"
    assert Detector.from_checkpoint(device="cpu", backend="torch").scorer.name == "torch"


def test_onnx_and_torch_give_the_same_probabilities(astronaut, ffpp_frames):
    torch_det, crops = _crops(astronaut, ffpp_frames)
    onnx_det = Detector.from_checkpoint(device="cpu", backend="onnx")
    a, b = torch_det.score_crops(crops), onnx_det.score_crops(crops)
    assert np.abs(a - b).max() < 1e-4, (a, b)
    # and the batch size does not change a score
    assert np.abs(onnx_det.score_crops(crops[:1]) - b[:1]).max() < 1e-5


def test_stale_export_is_never_used(tmp_path, capsys):
    ckpt = tmp_path / "mine.safetensors"
    shutil.copyfile(BASELINE, ckpt)
    assert main(["export", str(ckpt)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "mine.onnx")
    assert Detector.from_checkpoint(ckpt, device="cpu").scorer.name == "onnx"
    shutil.copyfile(DEFAULT_CHECKPOINT, ckpt)  # retrained in place: the old export no longer matches
    assert Detector.from_checkpoint(ckpt, device="cpu").scorer.name == "torch"
    with pytest.raises(UserError, match="exported from another checkpoint"):
        Detector.from_checkpoint(ckpt, device="cpu", backend="onnx")


def test_unknown_backend_is_one_clear_error(tmp_path, astronaut, capsys):
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), astronaut[..., ::-1])
    assert main(["predict", "--image", str(image), "--backend", "onnx", "--device", "cuda"]) == 1
    assert "CPU only" in capsys.readouterr().err


def test_tampered_shipped_weights_are_refused_on_the_onnx_path_too(tmp_path, monkeypatch):
    """Scores come from the .onnx, but threshold and temperature from the safetensors: both are checked."""
    import flashivy.checkpoint as ck

    copy = tmp_path / DEFAULT_CHECKPOINT.name
    data = bytearray(DEFAULT_CHECKPOINT.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    shutil.copyfile(onnx_path(DEFAULT_CHECKPOINT), onnx_path(copy))
    (tmp_path / "SHA256SUMS").write_text((DEFAULT_CHECKPOINT.parent / "SHA256SUMS").read_text())
    monkeypatch.setattr(ck, "DEFAULT_CHECKPOINT", copy)
    monkeypatch.setattr(ck, "CHECKSUMS", tmp_path / "SHA256SUMS")
    with pytest.raises(UserError, match="SHA-256"):
        Detector.from_checkpoint(copy, device="cpu", backend="onnx")
