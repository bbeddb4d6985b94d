"""Leave-one-method-out: the held-back method is never trained on nor chosen by, and the protocol scores exactly it."""
import json
from pathlib import Path

import pytest
from conftest import write_face_crops

from flashivy.core.errors import UserError
from flashivy.datasets.crops import CropRecord, write_index
from flashivy.media.layout import group_ids
from flashivy.models.checkpoint import read_metadata
from flashivy.training.protocol import (
    COLUMNS,
    check_unseen,
    run_recipe,
    score_checkpoint,
    seen_by,
)
from flashivy.training.train import TrainConfig, train


def _ffpp_like(root: Path, n_videos: int = 12) -> Path:
    """Generated crops indexed the way `flashivy faces` indexes FF++: fakes alternate Deepfakes / Face2Face."""
    write_face_crops(root, n_videos=n_videos)
    files = sorted(root.glob("*/*.jpg"))
    videos = [p.stem.rsplit("_", 1)[0] for p in files]
    groups = group_ids(videos)
    rows = []
    for p, video in zip(files, videos):
        label = p.parent.name
        method = "original" if label == "real" else ("Deepfakes", "Face2Face")[int(video[:3]) % 2]
        rows.append(CropRecord(path=p.relative_to(root).as_posix(), label=label, video=video, group=groups[video],
                               method=method, frame=0, face=0, x0=0, y0=0, x1=64, y1=64, score=1.0,
                               detector="generated", margin=1.3, size=64))
    write_index(root / "index.csv", rows)
    return root


def _recipe(tmp_path: Path, **kw) -> TrainConfig:
    settings = dict(model="baseline", pretrained=False, sources={"ffpp": str(_ffpp_like(tmp_path / "ffpp"))},
                    out=str(tmp_path / "run"), epochs=2, samples_per_epoch=32, batch_size=16, workers=0,
                    val_fraction=0.3, test_fraction=0.3, device="cpu", threads=2)
    return TrainConfig(**(settings | kw))


def test_excluded_method_is_neither_trained_nor_validated_on(tmp_path):
    cfg = _recipe(tmp_path, exclude_methods=["Face2Face"], record_seen=True)
    train(cfg)
    meta = read_metadata(tmp_path / "run" / "best.safetensors")
    trained_fakes = meta["data"]["train"]["ffpp"]["fake"]
    assert trained_fakes["methods"] == {"Deepfakes": trained_fakes["crops"]}
    assert "Face2Face" not in meta["data"]["val"]["ffpp"]["fake"]["methods"]
    assert "Face2Face" in meta["data"]["test"]["ffpp"]["fake"]["methods"]  # test keeps it: that is the point
    # and the draw really never picked one: the samples trained on are all Deepfakes or real
    from flashivy.datasets.samples import load_source
    from flashivy.training.train import three_way_split

    train_s = [s for s in three_way_split(load_source(cfg.sources["ffpp"], "ffpp"), cfg)[0]
               if s.method != "Face2Face"]
    seen = json.loads((tmp_path / "run" / "seen.json").read_text())["epochs"]
    assert {train_s[i].method for epoch in seen.values() for rank in epoch for i in rank} <= {"original", "Deepfakes"}
    # the test report and the checkpoint's tested_on name each method
    assert {r["method"] for r in meta["tested_on"]} == {"Deepfakes", "Face2Face"}


def test_keep_last_saves_the_final_epoch_whatever_validation_says(tmp_path):
    cfg = _recipe(tmp_path, keep="last", epochs=3)
    train(cfg)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + 3  # no early stop: a fixed budget
    with pytest.raises(UserError, match="keep must be"):
        train(_recipe(tmp_path / "bad", keep="first"))


def test_protocol_scores_the_held_back_method_and_resumes(tmp_path, capsys):
    ffpp = _ffpp_like(tmp_path / "ffpp")
    write_face_crops(tmp_path / "dfdc", n_videos=6)
    recipe = {"model": "baseline", "pretrained": False, "sources": {"ffpp": str(ffpp), "dfdc": str(tmp_path / "dfdc")},
              "epochs": 1, "samples_per_epoch": 32, "batch_size": 16, "workers": 0, "val_fraction": 0.3,
              "test_fraction": 0.3, "device": "cpu", "threads": 2}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(recipe))
    results = run_recipe(path, ["face2face", "ffpp_to_dfdc"], tmp_path / "protocol")
    run = tmp_path / "protocol" / "tiny" / "face2face"
    meta = read_metadata(run / "best.safetensors")
    assert meta["recipe"]["exclude_methods"] == ["Face2Face"] and meta["recipe"]["keep"] == "last"
    f2f = results["face2face"]
    assert 0 <= f2f["auc"] <= 1 and f2f["level"] == "video"
    # it scored Face2Face fakes and reals of groups the run did not train on, nothing else
    from flashivy.datasets.crops import read_index

    trained = {g.split(":", 1)[1] for g in json.loads((run / "splits.json").read_text())["train"]}
    fresh = [r for r in read_index(ffpp / "index.csv") if r.group not in trained]
    assert f2f["report"]["video"]["n_fake"] == len({r.video for r in fresh if r.method == "Face2Face"}) > 0
    assert f2f["report"]["video"]["n_real"] == len({r.video for r in fresh if r.label == "real"}) > 0
    # the cross-dataset column trained on FF++ alone and scored every DFDC crop
    other = read_metadata(tmp_path / "protocol" / "tiny" / "ffpp_to_dfdc" / "best.safetensors")
    assert set(other["data"]["train"]) == {"ffpp"}
    assert results["ffpp_to_dfdc"]["report"]["n"] == len(list((tmp_path / "dfdc").glob("*/*.jpg")))
    # a fused model is scored on the groups none of the runs behind it trained on (one splits.json each)
    taken = sorted({r.group for r in fresh})[0]
    (tmp_path / "other.json").write_text(json.dumps({"train": [f"ffpp:{taken}"]}))
    both = score_checkpoint(run / "best.safetensors", [run / "splits.json", tmp_path / "other.json"],
                            {"ffpp": str(ffpp)}, ["face2face"], tmp_path / "scored")["face2face"]["report"]["video"]
    left = [r for r in fresh if r.group != taken]
    assert both["n_real"] == len({r.video for r in left if r.label == "real"}) < f2f["report"]["video"]["n_real"]
    assert both["n_fake"] == len({r.video for r in left if r.method == "Face2Face"})
    # a second call trains nothing and keeps the results
    stamp = (run / "best.safetensors").stat().st_mtime_ns
    assert run_recipe(path, ["face2face"], tmp_path / "protocol")["face2face"] == f2f
    assert (run / "best.safetensors").stat().st_mtime_ns == stamp
    # a checkpoint that saw a method or a dataset cannot measure it
    check_unseen(run / "best.safetensors", COLUMNS["face2face"])
    with pytest.raises(UserError, match="cannot measure"):
        check_unseen(run / "best.safetensors", COLUMNS["deepfakes"])
    with pytest.raises(UserError, match="cannot measure"):
        check_unseen(run / "best.safetensors", COLUMNS["dfdc_to_ffpp"])


def test_checkpoints_without_methods_count_as_having_seen_every_method():
    meta = {"data": {"train": {"ffpp": {"fake": {"crops": 10, "groups": 2}, "real": {"crops": 10, "groups": 2}}}}}
    assert seen_by(meta) == {"ffpp": {"*"}}


def test_bad_recipes_are_one_clear_error(tmp_path, capsys):
    from flashivy.app.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["protocol", "--recipe", str(tmp_path / "missing.json")]) == 1
    assert main(["train", "--config", str(bad)]) == 1
    assert main(["train", "--data", f"x={tmp_path}", "--epochs", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'missing.json'}: no such file",
                   f"error: {bad}: not a JSON recipe (Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1))",
                   "error: epochs and batch size must be at least 1, and samples per epoch at least one batch"]


def test_a_model_that_saw_no_fake_can_be_scored_on_every_fake():
    """Reals only, last epoch kept: its validation fakes never steered it, so no column is refused on their
    account; a source whose fakes it trained on still is."""
    reals_only = {"recipe": {"keep": "last"},
                  "data": {"train": {"ffpp": {"real": {"crops": 9, "groups": 3}}, "dfdc": {"real": {"crops": 9}}},
                           "val": {"ffpp": {"fake": {"crops": 4, "methods": {"Face2Face": 4}}}}}}
    assert seen_by(reals_only) == {"ffpp": set(), "dfdc": set()}
    chose = {**reals_only, "recipe": {"keep": "best"}}
    assert seen_by(chose)["ffpp"] == {"Face2Face"}
    trained_fakes = {"recipe": {"keep": "last"}, "data": {"train": {"dfdc": {"fake": {"crops": 3}}}}}
    assert seen_by(trained_fakes) == {"dfdc": {"*"}}


SBI_STAGES = ["sbi_imagenet.json", "sbi_imagenet_stage2.json", "sbi_imagenet_stage3.json"]  # in training order


@pytest.mark.parametrize("stage", range(1, len(SBI_STAGES)))
def test_each_self_blending_stage_starts_from_the_committed_one_before_it_which_saw_no_fake(stage):
    """checkpoints/ holds the self-blending model between sessions (a machine's run folders may not survive):
    the stage-N checkpoint was trained by stage N's recipe, on real faces only (so every column may score it),
    and stage N+1's recipe starts from it with the same architecture and data."""
    from flashivy.models.checkpoint import load_checkpoint
    from flashivy.training.recipe import same_recipe

    root = Path(__file__).parent.parent
    trained, following = (TrainConfig.from_file(root / "configs" / name) for name in SBI_STAGES[stage - 1:stage + 1])
    checkpoint = root / "checkpoints" / f"sbi_imagenet_stage{stage}.safetensors"
    assert (root / following.init).resolve() == checkpoint.resolve()
    meta = read_metadata(checkpoint)
    assert same_recipe(meta["recipe"], trained) == []
    assert meta["recipe"]["reals_only"] and meta["recipe"]["keep"] == "last"
    assert all(not methods for methods in seen_by(meta).values())
    for column in COLUMNS.values():
        check_unseen(checkpoint, column)  # raises if it had seen the column's fakes
    assert (following.model, following.sources, following.reals_only, following.pairs) == (
        trained.model, trained.sources, trained.reals_only, trained.pairs)
    model, loaded = load_checkpoint(checkpoint)
    assert loaded["architecture"] == following.model and sum(p.numel() for p in model.parameters()) > 3_000_000
