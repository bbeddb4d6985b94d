"""The blending-boundary target (Face X-ray style): real blends, real augmentation, a real (short) training run."""
import csv
import json

import cv2
import numpy as np
import pytest
import torch
from conftest import crop_folder

from flashivy.app.cli import main
from flashivy.core.errors import UserError
from flashivy.datasets.samples import load_source
from flashivy.models.checkpoint import load_checkpoint
from flashivy.models.registry import create_model
from flashivy.training.blend import Landmarker, load_landmarks, self_blend
from flashivy.training.boundary import UNKNOWN, BoundaryNet, boundary_loss, boundary_map
from flashivy.training.dataset import FaceDataset, augment

LAYER = "features.11"  # the baseline CNN's third pooling: a 28 x 28 map for a 224 px face


def test_boundary_map_marks_the_edge_of_the_blend(face_crop):
    points = Landmarker()(face_crop)
    for seed in range(4):
        _, mask = self_blend(face_crop, points, np.random.default_rng(seed))
        cells = cv2.resize(mask / mask.max(), (14, 14), interpolation=cv2.INTER_AREA)
        target = boundary_map(mask, 14)
        assert target.shape == (14, 14) and target.max() > 0.4
        assert target[cells == 0].max() == 0  # nothing where nothing was blended
        if (cells > 0.98).any():
            assert target[cells > 0.98].max() < 0.1  # nor deep inside the blended face
        rim = (cells > 0.2) & (cells < 0.8)
        assert target[rim].mean() > 0.3  # a cell averages the rim with what lies either side of it


def test_augment_moves_the_mask_with_the_face_and_draws_the_same_randomness():
    mask = np.zeros((224, 224), np.float32)
    mask[40:180, 30:120] = 1.0  # off centre, so a flip shows
    img = np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=2)
    flipped = 0
    for seed in range(12):
        out, moved = augment(img, np.random.default_rng(seed), mask)
        alone, none = augment(img, np.random.default_rng(seed))
        assert none is None and np.array_equal(out, alone)  # a mask changes nothing about the image
        seen, kept = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY) > 128, moved > 0.5
        assert (seen & kept).sum() / (seen | kept).sum() > 0.9
        flipped += kept[:, 170:].any()
    assert flipped, "no draw flipped the face: the mask never had to follow"


def test_dataset_gives_each_face_its_boundary(tmp_path, face_crop):
    crops = crop_folder(tmp_path / "crops", face_crop)
    assert main(["blend", str(crops), "--landmarks"]) == 0
    samples = load_source(crops, "gen")
    ds = FaceDataset(samples, 224, (0.5,) * 3, (0.5,) * 3, train=True, self_blend=0.5,
                     landmarks=load_landmarks(crops), boundary_size=14)
    kinds = set()
    for i, s in enumerate(samples):
        x, label, idx, target = ds[i]
        assert x.shape == (3, 224, 224) and target.shape == (1, 14, 14) and idx == i
        if s.label == 1:
            assert (target == UNKNOWN).all()  # a real fake's blend is not known
            kinds.add("fake")
        elif label == 1:
            assert target.max() > 0.3 and target.min() >= 0  # a pseudo-fake's boundary
            kinds.add("pseudo")
        else:
            assert not target.any()  # a real face has none
            kinds.add("real")
    assert kinds == {"fake", "pseudo", "real"}
    plain = FaceDataset(samples, 224, (0.5,) * 3, (0.5,) * 3, train=False, boundary_size=14)
    assert len(plain[0]) == 3  # validation and test items stay (tensor, label, index)


def test_boundary_head_learns_and_is_not_part_of_the_model():
    torch.manual_seed(0)
    model = create_model("baseline")
    net = BoundaryNet(model, LAYER, 224).train()
    assert net.map_size == 28
    x = torch.randn(6, 3, 224, 224)
    target = torch.zeros(6, 1, 28, 28)
    target[:3, :, 8:20, 8:20] = 0.8
    target[5] = UNKNOWN
    assert torch.sigmoid(net(x)[1]).mean().item() < 0.1  # the head starts at the prior: little of a map is boundary
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(25):
        logits, drawn = net(x)
        assert logits.shape == (6, 1) and drawn.shape == (6, 1, 28, 28)
        loss = boundary_loss(drawn, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert set(model.state_dict()) == set(create_model("baseline").state_dict())
    with pytest.raises(UserError, match="not a layer"):
        BoundaryNet(model, "blocks.4", 224)


def test_training_with_a_boundary_target_saves_the_plain_model_and_resumes(tmp_path, face_crop, capsys):
    crops = crop_folder(tmp_path / "crops", face_crop)
    assert main(["blend", str(crops), "--landmarks"]) == 0
    recipe = {"model": "baseline", "pretrained": False, "epochs": 1, "samples_per_epoch": 32, "batch_size": 16,
              "workers": 0, "device": "cpu", "sources": {"gen": str(crops)}, "out": str(tmp_path / "run"),
              "self_blend": 0.5, "boundary_weight": 1.0, "boundary_layer": LAYER}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    assert main(["train", "--config", str(path)]) == 0
    path.write_text(json.dumps({**recipe, "epochs": 2}))
    assert main(["train", "--config", str(path)]) == 0
    assert "resumed" in capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(0 < float(r["train_boundary_loss"]) < 5 for r in rows)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    assert "head.weight" in state  # the boundary head resumes with its weights
    model, meta = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert meta["architecture"] == "baseline" and set(model.state_dict()) == set(create_model("baseline").state_dict())

    path.write_text(json.dumps({**recipe, "self_blend": 0.0, "out": str(tmp_path / "bad")}))
    assert main(["train", "--config", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "boundary_weight needs self_blend" in err[-1]
