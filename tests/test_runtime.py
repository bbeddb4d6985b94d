"""The two inference backends: ONNX Runtime (fast CPU path) and PyTorch give the same scores."""
import shutil

import cv2
import numpy as np
import pytest

from flashivy.app.cli import main
from flashivy.core.errors import UserError
from flashivy.faces.detectors import crop_face
from flashivy.inference.backends import onnx_path
from flashivy.inference.detector import Detector
from flashivy.media.video import iter_frames
from flashivy.models.checkpoint import DEFAULT_CHECKPOINT

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
    """Three frames of a real FF++ fake; without ../shared/data, three frames of the panning astronaut."""
    from conftest import FFPP, astronaut_frames

    video = FFPP / "manipulated_sequences/Deepfakes/c23/videos/033_097.mp4"
    frames = [f for _, f in iter_frames(video, [10, 200, 400])] if video.exists() else astronaut_frames()[::15]
    assert len(frames) == 3
    return frames


def test_shipped_model_runs_on_onnx_runtime_by_default_on_the_cpu():
    assert onnx_path(DEFAULT_CHECKPOINT).exists(), "make install exports it (flashivy export)"
    assert Detector.from_checkpoint(device="cpu").scorer.name == "onnx"
    assert Detector.from_checkpoint(device="cpu", backend="torch").scorer.name == "torch"


def test_onnx_and_torch_give_the_same_probabilities(astronaut, ffpp_frames):
    torch_det, crops = _crops(astronaut, ffpp_frames)
    assert len(crops) == 4
    onnx_det = Detector.from_checkpoint(device="cpu", backend="onnx")
    a, b = torch_det.score_crops(crops), onnx_det.score_crops(crops)
    assert np.abs(a - b).max() < 1e-4, (a, b)
    # and the batch size does not change a score
    assert np.abs(onnx_det.score_crops(crops[:1]) - b[:1]).max() < 1e-5


def test_later_heads_run_on_the_chosen_rows_only(astronaut, ffpp_frames):
    det, crops = _crops(astronaut, ffpp_frames)
    onnx_det = Detector.from_checkpoint(device="cpu", backend="onnx")
    assert onnx_det.kinds == ["manipulated", "generated"]
    every = onnx_det.kind_probabilities(crops)
    part = onnx_det.kind_probabilities(crops, [False, True, False, True])
    assert np.abs(part[:, 0] - every[:, 0]).max() < 1e-5  # the face-swap head: every crop, same scores
    assert np.abs(part[[1, 3], 1] - every[[1, 3], 1]).max() < 1e-5
    assert np.isnan(part[[0, 2], 1]).all() and not np.isnan(every).any()
    none = onnx_det.kind_probabilities(crops, [False] * 4)
    assert np.isnan(none[:, 1]).all() and np.abs(none[:, 0] - every[:, 0]).max() < 1e-5
    on_torch = det.kind_probabilities(crops, [False, True, False, True])  # the same faces, whichever backend
    assert np.array_equal(np.isnan(on_torch), np.isnan(part)) and np.nanmax(np.abs(on_torch - part)) < 1e-4


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


def test_onnx_asked_for_on_cuda_is_one_clear_error(tmp_path, astronaut, capsys):
    image = tmp_path / "a.jpg"
    cv2.imwrite(str(image), astronaut[..., ::-1])
    assert main(["predict", "--image", str(image), "--backend", "onnx", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "CPU only" in err and len(err.strip().splitlines()) == 1


def test_unknown_backend_is_one_clear_error(capsys):
    from flashivy.inference.backends import open_scorer

    with pytest.raises(UserError, match="unknown backend 'tensorrt'; choose from auto, onnx, torch"):
        open_scorer(DEFAULT_CHECKPOINT, "cpu", "tensorrt")
    with pytest.raises(SystemExit) as exit_:  # the command line refuses it before loading anything
        main(["predict", "--image", "x.jpg", "--backend", "tensorrt"])
    assert exit_.value.code == 2 and "invalid choice: 'tensorrt'" in capsys.readouterr().err


def test_tampered_shipped_weights_are_refused_on_the_onnx_path_too(tmp_path, monkeypatch):
    """Scores come from the .onnx, but threshold and temperature from the safetensors: both are checked."""
    import flashivy.core.paths as paths

    copy = tmp_path / DEFAULT_CHECKPOINT.name
    data = bytearray(DEFAULT_CHECKPOINT.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    shutil.copyfile(onnx_path(DEFAULT_CHECKPOINT), onnx_path(copy))
    (tmp_path / "SHA256SUMS").write_text((DEFAULT_CHECKPOINT.parent / "SHA256SUMS").read_text())
    monkeypatch.setattr(paths, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(paths, "CHECKSUMS", tmp_path / "SHA256SUMS")
    with pytest.raises(UserError, match="SHA-256"):
        Detector.from_checkpoint(copy, device="cpu", backend="onnx")


def test_an_export_in_the_user_cache_is_found_and_tied_to_its_checkpoint(tmp_path, monkeypatch):
    """An installed package's folder may be read-only: the export then lives in ~/.cache/flashivy."""
    from flashivy.core.paths import sha256
    from flashivy.inference.backends import cached_onnx_path
    from flashivy.inference.export import export_onnx

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ckpt = tmp_path / "site" / "mine.safetensors"
    ckpt.parent.mkdir()
    shutil.copyfile(BASELINE, ckpt)
    assert Detector.from_checkpoint(ckpt, device="cpu").scorer.name == "torch"  # nothing exported yet
    cached = cached_onnx_path(ckpt, sha256(ckpt))
    assert cached.parent == tmp_path / "cache" / "flashivy"
    export_onnx(ckpt, cached)
    assert Detector.from_checkpoint(ckpt, device="cpu").scorer.name == "onnx"
    shutil.copyfile(DEFAULT_CHECKPOINT, ckpt)  # another checkpoint under the same name: the cache does not match
    assert Detector.from_checkpoint(ckpt, device="cpu").scorer.name == "torch"
