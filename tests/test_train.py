"""A short real training run on generated face crops: outputs, calibration, resume, split by group."""
import json

import pytest
from conftest import write_face_crops

from flashivy.core.errors import UserError
from flashivy.datasets.samples import Sample, load_source, split_by_group
from flashivy.models.checkpoint import load_checkpoint
from flashivy.training.train import TrainConfig, train


def test_split_never_cuts_a_group():
    samples = [Sample(path=None, label=i % 2, video=f"v{i // 4}", group=f"g{i // 8}", source="s") for i in range(160)]
    train, val = split_by_group(samples, 0.25, seed=3)
    assert not {s.group for s in train} & {s.group for s in val}
    assert 0.15 < len(val) / len(samples) < 0.35


def test_short_training_run_and_resume(tmp_path):
    write_face_crops(tmp_path / "faces")
    samples = load_source(tmp_path / "faces", "gen")
    # v1 names: a fake 000_100 shares the group of real 000 (FF++ ids joined)
    assert {s.group for s in samples if s.video == "000_100"} == {s.group for s in samples if s.video == "000"}
    cfg = TrainConfig(model="baseline", pretrained=False, sources={"gen": str(tmp_path / "faces")},
                      out=str(tmp_path / "run"), epochs=2, samples_per_epoch=32, batch_size=16, workers=0,
                      val_fraction=0.34, test_fraction=0.34, device="cpu", threads=2)
    report = train(cfg)
    run = tmp_path / "run"
    for name in ("best.safetensors", "last.pt", "log.csv", "curves.png", "report.json", "roc_test.png",
                 "splits.json"):
        assert (run / name).exists(), name
    model, meta = load_checkpoint(run / "best.safetensors")
    assert meta["architecture"] == "baseline" and meta["temperature"] > 0
    assert {"val_ece_before", "val_ece_after"} <= set(meta["calibration"])
    assert report["test"]["gen"]["n"] > 0
    splits = json.loads((run / "splits.json").read_text())
    assert not set(splits["train"]) & (set(splits["val"]) | set(splits["test"]))
    # resume: one more epoch continues from the saved state instead of starting over
    before = (run / "log.csv").read_text().splitlines()
    cfg.epochs, cfg.record_seen = 3, True
    train(cfg)
    rows = (run / "log.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 and rows[-1].startswith("3,")
    assert rows[1:3] == before[1:3]  # the first two epochs' rows are the saved ones
    # this process trained the third epoch only (epochs are 0-based in seen.json), on 32 samples
    seen = json.loads((run / "seen.json").read_text())["epochs"]
    assert list(seen) == ["2"] and sum(len(r) for r in seen["2"]) == 32


def test_a_real_source_brings_its_reals_to_every_split_and_never_its_fakes(tmp_path):
    """FFHQ photos teach the face-swap head that portrait photos are real; their StyleGAN fakes are the other
    head's business, so they stay out of train, validation and test alike."""
    from flashivy.training.train import _check, run_data

    write_face_crops(tmp_path / "video", n_videos=6)
    write_face_crops(tmp_path / "photos", n_videos=12, per_video=1)
    cfg = TrainConfig(sources={"video": str(tmp_path / "video"), "photos": str(tmp_path / "photos")},
                      real_sources=["photos"], val_fraction=0.34, test_fraction=0.34)
    data = run_data(cfg)
    for part in (data.train, data.val, data.test):
        assert {s.label for s in part if s.source == "photos"} == {0}
        assert {s.label for s in part if s.source == "video"} == {0, 1}
    assert data.summary["train"]["photos"].keys() == {"real"}
    with pytest.raises(UserError, match="real_sources names no source"):
        _check(TrainConfig(sources={"video": str(tmp_path / "video")}, real_sources=["photo"]))


def test_a_source_of_reals_only_counts_for_best_by_ranking_its_reals_below_every_fake():
    import numpy as np

    from flashivy.training.train import per_source_report, selection_score

    rows = [(0, "video"), (1, "video"), (0, "photos"), (0, "photos")]
    samples = [Sample(path=None, label=label, video=f"v{i}", group=f"g{i}", source=source)
               for i, (label, source) in enumerate(rows)]
    report = per_source_report(samples, np.array([-1.0, 1.0, 2.0, -3.0]))
    assert report["photos"]["auc"] is None and report["photos"]["auc_against_all_fakes"] == 0.5
    assert report["photos"]["false_positive_rate"] == 0.5
    assert selection_score(report) == (1.0 + 0.5) / 2


def test_official_ffpp_split_lists(tmp_path):
    from flashivy.datasets.samples import split_by_official_lists

    for name, pairs in (("train", [["000", "003"]]), ("val", [["001", "002"]]), ("test", [["004", "005"]])):
        (tmp_path / f"{name}.json").write_text(json.dumps(pairs))
    videos = [("000", ""), ("Deepfakes_000_003", "Deepfakes"), ("002", ""), ("Deepfakes_002_001", "Deepfakes"),
              ("Deepfakes_004_005", "Deepfakes"), ("999", "")]
    samples = [Sample(path=None, label=int(bool(m)), video=v, group=v, source="ffpp", method=m) for v, m in videos]
    parts = split_by_official_lists(samples, tmp_path)
    assert [s.video for s in parts["train"]] == ["000", "Deepfakes_000_003", "999"]
    assert [s.video for s in parts["val"]] == ["002", "Deepfakes_002_001"]
    assert [s.video for s in parts["test"]] == ["Deepfakes_004_005"]


def test_fine_tune_keeps_the_previous_split_and_frozen_layers(tmp_path):
    """init + splits + freeze: a run started from another run's checkpoint never trains on what that run
    held out, splits only the new groups, and leaves frozen layers (weights and BN statistics) untouched."""
    import torch
    from safetensors.torch import load_file

    from flashivy.core.paths import sha256
    from flashivy.models.checkpoint import read_metadata

    write_face_crops(tmp_path / "small", n_videos=6)
    write_face_crops(tmp_path / "more", n_videos=12)  # the same 6 videos plus 6 new ones
    common = dict(model="baseline", pretrained=False, epochs=1, samples_per_epoch=32, batch_size=16, workers=0,
                  val_fraction=0.34, test_fraction=0.34, device="cpu", threads=2)
    first = tmp_path / "first"
    train(TrainConfig(sources={"gen": str(tmp_path / "small")}, out=str(first), **common))
    second = tmp_path / "second"
    train(TrainConfig(sources={"gen": str(tmp_path / "more")}, out=str(second), init=str(first / "best.safetensors"),
                      splits=str(first / "splits.json"), freeze=["features.0", "features.1"], **common))

    before, after = (json.loads((run / "splits.json").read_text()) for run in (first, second))
    for part in ("train", "val", "test"):
        assert set(before[part]) <= set(after[part]), part
    assert sum(map(len, after.values())) == 12  # every new group was placed somewhere
    assert read_metadata(second / "best.safetensors")["init_sha256"] == sha256(first / "best.safetensors")
    log = (second / "log.csv").read_text().splitlines()
    assert log[1].startswith("0,") and log[2].startswith("1,")  # the starting point is scored first

    start = load_file(str(first / "best.safetensors"))
    trained = torch.load(second / "last.pt", weights_only=True)["model"]
    for name in ("features.0.weight", "features.1.weight", "features.1.running_mean", "features.1.running_var"):
        assert torch.equal(trained[name], start[name]), name
    assert not torch.equal(trained["head.3.weight"], start["head.3.weight"])


def test_every_shipped_recipe_parses():
    import json
    from pathlib import Path

    from flashivy.models.registry import list_models
    from flashivy.training.recipe import KindConfig

    recipes = sorted((Path(__file__).parent.parent / "configs").glob("*.json"))
    assert recipes
    for path in recipes:
        if "kind" in json.loads(path.read_text()):  # a head for another kind of fake
            cfg = KindConfig.from_file(path)
            assert cfg.kind_sources and cfg.other_sources and cfg.base_splits, path.name
            continue
        cfg = TrainConfig.from_file(path)
        assert cfg.model in list_models() and cfg.sources, path.name


def test_a_model_records_the_framing_its_crops_were_cut_with(tmp_path):
    """Inference must crop as training did: the checkpoint takes the detector and margin from the crop index,
    not from the library's defaults; crops cut two ways are refused."""
    from dataclasses import replace

    from flashivy.datasets.crops import CropRecord, crop_framing, write_index

    def index(folder, detector, margin):
        row = CropRecord("real/a_00000.jpg", "real", "a", "a", "original", 0, 0, 0, 0, 1, 1, 1.0, detector, margin,
                         224)
        write_index(folder / "index.csv", [row, replace(row, path="", face=-1)])  # a frame with no face counts not
        return folder

    haar = index(tmp_path / "haar", "haar", 1.6)
    assert crop_framing([haar]) == {"detector": "haar", "margin": 1.6}
    assert crop_framing([tmp_path / "v1_folder_without_index"]) is None
    with pytest.raises(UserError, match="different detectors or margins"):
        crop_framing([haar, index(tmp_path / "mp", "mediapipe", 1.3)])


def test_a_run_killed_mid_epoch_resumes_from_the_batch_it_saved(tmp_path, monkeypatch):
    """last.pt is written within an epoch too (every save_every_min): a run killed there goes on with the rest
    of the same draw, not from the epoch's start and not with a new draw."""
    from flashivy.training import train as training

    write_face_crops(tmp_path / "faces")
    common = dict(model="baseline", pretrained=False, sources={"gen": str(tmp_path / "faces")}, epochs=1,
                  samples_per_epoch=64, batch_size=16, workers=0, val_fraction=0.34, test_fraction=0.34,
                  device="cpu", threads=2, record_seen=True)
    train(TrainConfig(out=str(tmp_path / "whole"), **common))
    whole = json.loads((tmp_path / "whole" / "seen.json").read_text())["epochs"]["0"][0]

    made, step, calls = training.FaceSwapRun.__init__, training.FaceSwapRun.step, []

    def often(self, *args, **kwargs):
        made(self, *args, **kwargs)
        self.save_every_min = 1e-9  # a save after every batch

    def killed_at_the_third(self, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return step(self, batch)

    monkeypatch.setattr(training.FaceSwapRun, "__init__", often)
    monkeypatch.setattr(training.FaceSwapRun, "step", killed_at_the_third)
    cut = TrainConfig(out=str(tmp_path / "cut"), **common)
    with pytest.raises(KeyboardInterrupt):
        train(cut)
    import torch

    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert state["epoch"] == -1 and state["step"] == 2  # two batches of the first epoch done
    monkeypatch.setattr(training.FaceSwapRun, "step", step)
    train(cut)
    rest = json.loads((tmp_path / "cut" / "seen.json").read_text())["epochs"]["0"][0]
    assert rest == whole[32:]  # the last two batches of the same draw
    log = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert len(log) == 2 and log[1].startswith("1,")
