"""A second, whole model fused into a checkpoint as a head of its own (flashivy.training.fuse).

Real inputs: the shipped default's weights, with its own face-swap model as the member (so what the member
must output is known: the face-swap head's logits), faces of ../shared/data/diffusion_faces cut by the real
detector, a real FF++ video, the ONNX export.
"""
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from flashivy.app.cli import main
from flashivy.datasets.samples import load_source
from flashivy.inference.detector import Detector
from flashivy.inference.export import export_onnx
from flashivy.inference.reading import cli_note
from flashivy.media.images import load_image
from flashivy.models.branches import KindHeads, face_swap_part
from flashivy.models.checkpoint import (
    DEFAULT_CHECKPOINT,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from flashivy.models.kinds import BLENDED, GENERATED, MANIPULATED
from flashivy.models.preprocess import normalise
from flashivy.training.fuse import calibration_faces, fuse
from flashivy.training.protocol import seen_by


@pytest.fixture(scope="module")
def member(tmp_path_factory):
    """The shipped face-swap model alone, as a single-model checkpoint."""
    model, meta = face_swap_part(*load_checkpoint())
    return save_checkpoint(tmp_path_factory.mktemp("member") / "member.safetensors", model, meta)


@pytest.fixture(scope="module")
def splits(diffusion_crops, tmp_path_factory):
    """Every group of the crops in validation (what calibrates the member)."""
    groups = sorted({f"diffusion:{s.group}" for s in load_source(diffusion_crops, "diffusion")})
    path = tmp_path_factory.mktemp("splits") / "splits.json"
    path.write_text(json.dumps({"train": [], "val": groups, "test": []}))
    return path


@pytest.fixture(scope="module")
def fused(diffusion_crops, splits, member, tmp_path_factory):
    out = tmp_path_factory.mktemp("fused") / "fused.safetensors"
    faces = calibration_faces({"diffusion": str(diffusion_crops)}, splits)
    return out, fuse(DEFAULT_CHECKPOINT, member, faces, out, max_reals_called=0.05), faces


def test_the_fused_model_keeps_every_head_and_adds_the_members_logits(fused, diffusion_crops):
    path, _, faces = fused
    model, meta = load_checkpoint(path)
    shipped, shipped_meta = load_checkpoint()
    assert isinstance(model, KindHeads) and model.kinds == [MANIPULATED, GENERATED, BLENDED]
    assert meta["whole_heads"] == [BLENDED] and meta["heads"][:2] == shipped_meta["heads"]
    crops = [load_image(s.path) for s in faces[:6]]
    x = torch.from_numpy(normalise([np.asarray(c) for c in crops], meta["mean"], meta["std"]))
    with torch.inference_mode():
        ours, theirs = model(x), shipped(x)
    assert torch.equal(ours[:, :2], theirs), "the base's heads are bit for bit what they were"
    # the member is the face-swap model itself, stored in half precision inside the fused file (its figures
    # are measured on the fused file): close to the face-swap head's logits, not the same computation
    assert torch.allclose(ours[:, 2], theirs[:, 0], atol=0.1)
    assert not torch.equal(ours[:, 2], theirs[:, 0])


def test_the_member_is_calibrated_with_a_cap_on_each_sources_real_faces(fused):
    path, calibration, faces = fused
    assert calibration["reals_called"].keys() == {"diffusion"}
    assert calibration["reals_called"]["diffusion"] <= 0.05
    assert calibration["bias"] <= calibration["bias_fitted"]
    assert calibration["data"]["diffusion"]["real"]["crops"] == sum(s.label == 0 for s in faces)
    member = read_metadata(path)["members"][BLENDED]
    assert member["calibration"] == json.loads(json.dumps(calibration))
    head = read_metadata(path)["heads"][2]
    assert (head["temperature"], head["bias"]) == (calibration["temperature"], calibration["bias"])


def test_what_the_member_was_calibrated_on_counts_as_seen(fused):
    meta = read_metadata(fused[0])
    assert {"stable-diffusion-2.1", "flux.1-dev+lora"} <= seen_by(meta)["diffusion"]
    # a member calibrated on a method's fakes cannot measure that method as unseen
    meta["members"][BLENDED]["calibration"]["data"] = {"ffpp": {"fake": {"crops": 4, "methods": {"Face2Face": 4}}}}
    assert "Face2Face" in seen_by(meta)["ffpp"]


def test_a_fused_checkpoint_runs_the_member_on_every_kth_frame_of_a_video(fused, ffpp_real_video):
    detector = Detector.from_checkpoint(fused[0], backend="torch")
    result = detector.predict_video(ffpp_real_video, num_frames=8)
    ran = [f for f in result.faces if BLENDED in f.scores]
    assert 0 < len(ran) < len(result.faces), "like the generated head, on a subset of the sampled frames"
    assert result.scores.keys() == {MANIPULATED, GENERATED, BLENDED}
    assert result.fake_probability == max(result.scores.values())


def test_the_onnx_export_of_a_fused_checkpoint_scores_as_torch_does(fused, tmp_path):
    path = tmp_path / "fused.safetensors"
    path.write_bytes(fused[0].read_bytes())
    export_onnx(path)
    crops = [load_image(s.path) for s in fused[2][:5]]
    every = [True, False, True, False, True]
    onnx = Detector.from_checkpoint(path, backend="onnx").kind_probabilities(crops, every)
    torch_ = Detector.from_checkpoint(path, backend="torch").kind_probabilities(crops)
    assert np.isnan(onnx[1, 1:]).all() and np.isnan(onnx[3, 1:]).all()
    rows = np.array(every)
    np.testing.assert_allclose(onnx[rows], torch_[rows], atol=1e-4)
    np.testing.assert_allclose(onnx[:, 0], torch_[:, 0], atol=1e-4)


def test_fuse_refuses_what_cannot_be_fused_in_one_clear_line(fused, member, diffusion_crops, splits, tmp_path,
                                                              capsys):
    model, meta = load_checkpoint(member)
    other_size = save_checkpoint(tmp_path / "160.safetensors", model, meta | {"input_size": 160})
    flags = ["--data", f"diffusion={diffusion_crops}", "--splits", str(splits), "-o", str(tmp_path / "out.safetensors")]
    assert main(["fuse", str(fused[0]), str(member), *flags]) == 1
    assert main(["fuse", str(DEFAULT_CHECKPOINT), str(fused[0]), *flags]) == 1
    assert main(["fuse", str(DEFAULT_CHECKPOINT), str(other_size), *flags]) == 1
    assert main(["fuse", str(DEFAULT_CHECKPOINT), str(member), *flags[:3], str(tmp_path / "none.json"), *flags[4:]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {fused[0]}: has a blended head already",
                   f"error: {fused[0]}: has heads of its own; fuse a single model",
                   f"error: {other_size}: differs from {DEFAULT_CHECKPOINT} in input_size; both must read the same crop",
                   f"error: {tmp_path / 'none.json'}: splits file not found"]
    assert not (tmp_path / "out.safetensors").exists()


def test_fuse_records_the_fused_verdict_on_faces_no_run_behind_it_held_out(member, diffusion_crops, tmp_path,
                                                                           capsys):
    """The member's run validated on two people and some SD portraits, the base's run (which names the source
    otherwise) trained on other SD portraits: the third person and the SD portraits neither touched are
    the held-out faces, and their figures are the face-swap side's (the most likely of every kind but the
    generated one), in place of the base's face-swap rows."""
    faces = load_source(diffusion_crops, "diffusion")
    sd = sorted({s.group for s in faces if not s.group.startswith("person:")})
    member_splits, base_splits = tmp_path / "member.json", tmp_path / "base.json"
    member_splits.write_text(json.dumps({"val": ["diffusion:person:correa", "diffusion:person:gonzalez",
                                                 *(f"diffusion:{g}" for g in sd[:3])]}))
    base_splits.write_text(json.dumps({"train": [f"photos:{g}" for g in sd[3:6]]}))
    out = tmp_path / "fused.safetensors"
    args = ["fuse", str(DEFAULT_CHECKPOINT), str(member), "--data", f"diffusion={diffusion_crops}",
            "--splits", str(member_splits), "--alias", "photos=diffusion", "--held-out-of", str(base_splits),
            "--max-reals-called", "0.05", "-o", str(out)]
    assert main(args) == 0
    held_out = [s for s in faces if s.group == "person:noboa" or s.group in sd[6:]]
    assert held_out and {s.label for s in held_out} == {0, 1}

    meta = read_metadata(out)
    detector = Detector.from_checkpoint(out, backend="torch")
    probs = detector.kind_probabilities([load_image(s.path) for s in held_out])
    side = probs[:, [detector.kinds.index(MANIPULATED), detector.kinds.index(BLENDED)]].max(axis=1)
    labels = np.array([s.label for s in held_out])
    rows = [r for r in meta["tested_on"] if not r.get("kind")]
    assert {r["method"] for r in rows} == {"flux.1-dev+lora", "stable-diffusion-2.1"}  # each against the reals
    for row in rows:
        keep = np.array([s.label == 0 or s.method == row["method"] for s in held_out])
        assert (row["source"], row["n_real"], row["n_fake"]) == ("diffusion", (labels == 0).sum(), labels[keep].sum())
        assert row["auc"] == pytest.approx(roc_auc_score(labels[keep], side[keep]), abs=1e-6)
        assert row["heads"] == [MANIPULATED, BLENDED]
    shipped = read_metadata(DEFAULT_CHECKPOINT)["tested_on"]
    assert [r for r in meta["tested_on"] if r.get("kind")] == [r for r in shipped if r.get("kind")]
    assert "diffusion" in cli_note(meta) and "dfdc" not in {r["source"] for r in rows}
    capsys.readouterr()
    assert main([*args[:-2], "--alias", "photos", "-o", str(tmp_path / "other.safetensors")]) == 1
    assert capsys.readouterr().err.strip() == "error: --alias wants THEIRS=OURS, got photos"
    assert not (tmp_path / "other.safetensors").exists()
