"""Self-blended pseudo-fakes from real faces: real landmarks, real blending, a real (short) training run."""
import csv
import json

import cv2
import numpy as np
from conftest import crop_folder

from flashivy.app.cli import main
from flashivy.datasets.samples import load_source
from flashivy.models.checkpoint import read_metadata
from flashivy.training.blend import BLEND_RATIOS, Landmarker, load_landmarks, self_blend
from flashivy.training.dataset import FaceDataset


def test_self_blend_alters_the_face_and_nothing_else(face_crop):
    points = Landmarker()(face_crop)
    assert points is not None and points.shape == (468, 2)
    assert 40 < points[:, 0].mean() < 184 and 40 < points[:, 1].mean() < 200  # on the face, in pixels
    for seed in range(6):
        fake, mask = self_blend(face_crop, points, np.random.default_rng(seed))
        assert fake.shape == face_crop.shape and fake.dtype == np.uint8
        assert round(float(mask.max()), 2) in BLEND_RATIOS
        outside, inside = mask == 0, mask > 0.5 * mask.max()
        assert outside.any() and inside.any()
        assert np.array_equal(fake[outside], face_crop[outside])  # the background is untouched
        assert np.abs(fake[inside].astype(int) - face_crop[inside]).mean() > 1  # the face is not


def test_blend_command_caches_landmarks_and_draws_the_sheet(tmp_path, face_crop):
    crops = crop_folder(tmp_path / "crops", face_crop)
    assert main(["blend", str(crops), "--landmarks", "--sheet", str(tmp_path / "sheet.png"), "-n", "3"]) == 0
    marks = load_landmarks(crops)
    assert len(marks) == 12 and all(p.shape == (468, 2) for p in marks.values())  # the real crops only
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[1] > 3 * 150


def test_pseudo_fakes_alone_train_a_model(tmp_path, face_crop):
    crops = crop_folder(tmp_path / "crops", face_crop)
    assert main(["blend", str(crops), "--landmarks"]) == 0
    samples = [s for s in load_source(crops, "gen") if s.label == 0]
    ds = FaceDataset(samples, 224, (0.5,) * 3, (0.5,) * 3, train=True, self_blend=0.5,
                     landmarks=load_landmarks(crops))
    labels = [ds[i][1] for i in range(len(ds))]
    assert 0 < sum(labels) < len(labels)  # some reals became pseudo-fakes, labelled fake
    out = tmp_path / "run"
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"model": "baseline", "pretrained": False, "epochs": 1, "samples_per_epoch": 32,
                                  "batch_size": 16, "workers": 0, "device": "cpu"}))
    assert main(["train", "--config", str(recipe), "--data", f"gen={crops}", "--out", str(out),
                 "--self-blend", "0.5", "--reals-only"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["test"]["gen"]["n_fake"] > 0  # tested on the real fakes it never trained on
    trained_on = read_metadata(out / "best.safetensors")["data"]["train"]["gen"]
    assert set(trained_on) == {"real"}, "no real fake crop was trained on"
    log = list(csv.DictReader(open(out / "log.csv")))
    assert 0.2 < float(log[-1]["train_fake_share"]) < 0.8, "half the reals became pseudo-fakes"
