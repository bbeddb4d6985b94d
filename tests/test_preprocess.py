"""One preprocessing: what training feeds the model is exactly what either backend scores."""
import cv2
import numpy as np
import pytest
import torch
from conftest import write_face_crops

from flashivy import Detector
from flashivy.datasets.samples import load_source
from flashivy.media.images import load_image
from flashivy.models.preprocess import normalise, to_tensor
from flashivy.training.dataset import FaceDataset


def test_to_tensor_is_normalise_of_one_crop(astronaut):
    crop = np.ascontiguousarray(cv2.resize(astronaut, (224, 224))[::-1])  # any layout in, even a flipped view
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    assert torch.equal(to_tensor(crop, mean, std), torch.from_numpy(normalise([crop], mean, std)[0]))
    # the arithmetic itself: (x / 255 - mean) / std, channels first
    x = normalise([crop], mean, std)[0]
    assert x.shape == (3, 224, 224) and x.dtype == np.float32
    assert x[1, 10, 20] == pytest.approx((crop[10, 20, 1] / 255 - 0.456) / 0.224, abs=1e-6)


def test_a_validation_face_reaches_the_model_as_the_detector_sends_it(tmp_path):
    write_face_crops(tmp_path / "faces", n_videos=2, per_video=2)
    samples = load_source(tmp_path / "faces", "gen")
    det = Detector.from_checkpoint(device="cpu", backend="onnx")
    meta = det.meta
    ds = FaceDataset(samples, meta["input_size"], meta["mean"], meta["std"], train=False)
    crops = [cv2.resize(load_image(s.path), (meta["input_size"],) * 2, interpolation=cv2.INTER_AREA) for s in samples]
    trained_on = torch.stack([ds[i][0] for i in range(len(samples))]).numpy()
    scored = normalise(crops, meta["mean"], meta["std"])
    assert np.array_equal(trained_on, scored)
    # and both backends give that batch the same logits
    torch_det = Detector.from_checkpoint(device="cpu", backend="torch")
    onnx_logits, torch_logits = det.scorer.logits(scored), torch_det.scorer.logits(trained_on)
    assert np.abs(onnx_logits - torch_logits).max() < 1e-3
