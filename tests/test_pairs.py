"""Paired batches: a real face beside its self-blended twin, a fake beside a real face of its own video."""
import csv
import json

import numpy as np
import pytest
import torch
from conftest import crop_folder

from flashivy.app.cli import main
from flashivy.core.distributed import World
from flashivy.core.errors import UserError
from flashivy.datasets.samples import Sample, load_source
from flashivy.training.blend import load_landmarks
from flashivy.training.dataset import FaceDataset, Partners
from flashivy.training.train import ShardedWeightedSampler


def _ffpp(video: str, label: int, method: str = "", group: str = "033") -> Sample:
    return Sample(path=f"{video}.jpg", label=label, video=video, group=group, source="ffpp", method=method)


def test_partners_pair_each_face_with_its_own_video():
    samples = [_ffpp("033", 0), _ffpp("097", 0), _ffpp("Deepfakes_033_097", 1, "Deepfakes"),
               _ffpp("Face2Face_097_033", 1, "Face2Face"),
               Sample(path="a.jpg", label=1, video="fakeclip", group="srcclip", source="dfdc"),
               Sample(path="b.jpg", label=0, video="otherclip", group="otherclip", source="dfdc"),
               Sample(path="c.jpg", label=0, video="srcclip", group="srcclip", source="dfdc")]
    partners, rng = Partners(samples, [True, False, False, False, False, False, False]), np.random.default_rng(0)
    for _ in range(20):
        assert partners(0, rng) == len(samples)  # a real face with landmarks: its own self-blended twin
        assert partners(1, rng) == 3  # without landmarks: the fake made from its video (097_033 altered 097)
        assert partners(2, rng) == 0  # Deepfakes 033_097 altered 033's frames
        assert partners(3, rng) == 1
        assert partners(4, rng) == 6  # a DFDC fake: a real face of its source video
    with pytest.raises(UserError, match="no real face"):
        Partners(samples[2:4], [False, False])(0, rng)


def test_twin_share_pairs_some_reals_with_fakes_made_from_them():
    samples = [_ffpp("033", 0), _ffpp("Deepfakes_033_097", 1, "Deepfakes"),
               Sample(path="a.jpg", label=1, video="fakeclip", group="srcclip", source="dfdc"),
               Sample(path="b.jpg", label=0, video="srcclip", group="srcclip", source="dfdc"),
               Sample(path="c.jpg", label=0, video="lonely", group="lonely", source="dfdc")]
    partners, rng = Partners(samples, [True, False, False, True, True], twin_share=0.25), np.random.default_rng(0)
    drawn = {i: [partners(i, rng) for _ in range(400)] for i in (0, 3, 4)}
    assert set(drawn[0]) == {1, 5} and 0.18 < np.mean(np.array(drawn[0]) == 5) < 0.32  # twin or the 033 swap
    assert set(drawn[3]) == {2, 8}  # a DFDC real: its twin or a fake of its source video
    assert set(drawn[4]) == {9}  # no fake was made from it: always its twin


def test_paired_draw_keeps_each_pair_on_one_rank():
    samples = [_ffpp(f"{v:03d}", 0, group=f"{v:03d}") for v in range(8)]
    samples += [_ffpp(f"Deepfakes_{v:03d}_{v + 1:03d}", 1, "Deepfakes", f"{v:03d}") for v in range(8)]
    partners = Partners(samples, [v % 2 == 0 for v in range(8)] + [False] * 8)
    weights = torch.ones(len(samples), dtype=torch.double)
    whole = list(ShardedWeightedSampler(weights, 3, 8, World(), seed=1, partners=partners))
    ranks = [list(ShardedWeightedSampler(weights, 3, 8, World(rank=r, size=2), seed=1, partners=partners))
             for r in (0, 1)]
    assert len(whole) == 24 and sorted(whole) == sorted(ranks[0] + ranks[1])
    for drawn in [whole] + ranks:
        for a, b in zip(drawn[::2], drawn[1::2]):
            if a < 8:  # a real face: its twin, or for one without landmarks a fake of its video
                assert b == a + 16 if a % 2 == 0 else b == a + 8
            else:
                assert b == a - 8
    with pytest.raises(UserError, match="in pairs"):
        ShardedWeightedSampler(weights, 3, 6, World(rank=0, size=2), seed=1, partners=partners)


def test_training_in_pairs(tmp_path, face_crop, capsys):
    crops = crop_folder(tmp_path / "crops", face_crop)
    assert main(["blend", str(crops), "--landmarks"]) == 0
    samples = load_source(crops, "gen")
    ds = FaceDataset(samples, 224, (0.5,) * 3, (0.5,) * 3, train=True, landmarks=load_landmarks(crops))
    real = next(i for i, s in enumerate(samples) if s.label == 0)
    assert ds.blendable()[real] and ds[real][1] == 0.0 and ds[real + len(samples)][1] == 1.0  # the twin is fake
    recipe = {"model": "baseline", "pretrained": False, "epochs": 1, "samples_per_epoch": 32, "batch_size": 16,
              "workers": 0, "device": "cpu", "sources": {"gen": str(crops)}, "out": str(tmp_path / "run"),
              "pairs": True, "boundary_weight": 0.5, "boundary_layer": "features.11"}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    assert main(["train", "--config", str(path)]) == 0
    row = next(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert float(row["train_fake_share"]) == 0.5  # every pair is one real and one fake face
    assert float(row["train_boundary_loss"]) > 0

    path.write_text(json.dumps({**recipe, "self_blend": 0.3, "out": str(tmp_path / "bad")}))
    assert main(["train", "--config", str(path)]) != 0
    assert "set self_blend to 0" in capsys.readouterr().err.strip().splitlines()[-1]
    path.write_text(json.dumps({**recipe, "pairs": False, "boundary_weight": 0, "pair_twin_share": 0.5,
                                "out": str(tmp_path / "bad")}))
    assert main(["train", "--config", str(path)]) != 0
    assert "only for a recipe with pairs" in capsys.readouterr().err.strip().splitlines()[-1]


def test_reals_only_in_pairs_leaves_out_the_reals_that_have_no_twin(tmp_path, face_crop, capsys):
    """The SBI recipe: real faces only, each beside its self-blended twin. A real face FaceMesh found no
    landmarks on has neither a twin nor a fake to go with; it is left out of training, not an error."""
    import cv2

    crops = crop_folder(tmp_path / "crops", face_crop)
    assert main(["blend", str(crops), "--landmarks"]) == 0
    for v in range(4):  # one crop with no face (so no landmarks) in every video
        cv2.imwrite(str(crops / "real" / f"{v:03d}_0009.jpg"), np.full((224, 224, 3), 128, np.uint8))
    recipe = {"model": "baseline", "pretrained": False, "epochs": 1, "samples_per_epoch": 32, "batch_size": 16,
              "workers": 0, "device": "cpu", "sources": {"gen": str(crops)}, "out": str(tmp_path / "run"),
              "pairs": True, "reals_only": True, "val_fraction": 0.25, "test_fraction": 0.25, "record_seen": True}
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    capsys.readouterr()
    assert main(["train", "--config", str(path)]) == 0
    err = capsys.readouterr().err
    row = next(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    assert float(row["train_fake_share"]) == 0.5  # every real beside its twin, no real fake drawn
    train_groups = json.loads((tmp_path / "run" / "splits.json").read_text())["train"]
    assert train_groups and f"{len(train_groups)} real training faces without landmarks left out" in err
