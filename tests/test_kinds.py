"""Kinds of fake: the generated-face head beside the face-swap head, on one shared trunk.

Real weights (the shipped default), real StyleGAN faces and FFHQ photos from
../shared/data/synthetic_faces, FLUX portraits and photos of a politician from ../shared/data/diffusion_faces,
held-out images only (the recipes' own splits).
"""
import json
import shutil

import numpy as np
import pytest
import torch
from conftest import ROOT, SHARED, write_face_crops

from flashivy.app.cli import main
from flashivy.datasets.samples import load_source
from flashivy.inference.detector import Detector
from flashivy.models.branches import KindHeads
from flashivy.models.checkpoint import (
    DEFAULT_CHECKPOINT,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from flashivy.models.kinds import GENERATED, MANIPULATED
from flashivy.training.train_kind import KindConfig, kind_splits, train_kind

SYNTHETIC = SHARED / "synthetic_faces"
DIFFUSION = SHARED / "diffusion_faces"
RECIPE = ROOT / "configs" / "generated.json"


@pytest.fixture(scope="module")
def held_out():
    """Held-out StyleGAN faces and FFHQ photos (the test split of the shipped recipe), 12 of each."""
    if not SYNTHETIC.is_dir():
        pytest.skip(f"{SYNTHETIC} not found (../shared/data is absent)")
    recipe = KindConfig.from_file(RECIPE)
    cfg = KindConfig(kind_sources={"synthetic": str(SYNTHETIC)}, seed=recipe.seed,
                     val_fraction=recipe.val_fraction, test_fraction=recipe.test_fraction)
    test = kind_splits(cfg)["test"]
    fakes = sorted(s.path for s in test if s.label == 1)[:12]
    reals = sorted(s.path for s in test if s.label == 0)[:12]
    return fakes, reals


@pytest.fixture(scope="module")
def held_out_person():
    """FLUX portraits and real photos of the politician the shipped recipe holds out (one per split), 16 of each."""
    if not DIFFUSION.is_dir():
        pytest.skip(f"{DIFFUSION} not found (../shared/data is absent)")
    recipe = KindConfig.from_file(ROOT / "configs" / "default_generated.json")
    cfg = KindConfig(kind_sources={"diffusion": str(DIFFUSION)}, seed=recipe.seed,
                     val_fraction=recipe.val_fraction, test_fraction=recipe.test_fraction)
    test = [s for s in kind_splits(cfg)["test"] if s.group.startswith("person:")]
    assert len({s.group for s in test}) == 1, "one of the three people is held out"
    fakes = sorted(s.path for s in test if s.label == 1)[:16]
    reals = sorted(s.path for s in test if s.label == 0)[:16]
    return fakes, reals


@pytest.fixture(scope="module")
def detector():
    return Detector.from_checkpoint(device="cpu", backend="torch")


def test_the_shipped_default_judges_both_kinds(detector):
    assert detector.kinds == [MANIPULATED, GENERATED]
    meta = detector.meta
    rows = [r for r in meta["tested_on"] if r.get("kind") == GENERATED]
    generators = {r["method"] for r in rows if r["n_fake"]}
    assert generators == {"StyleGAN (140k fake set)", "stable-diffusion-2.1", "flux.1-dev+lora"}, \
        "its held-out figures travel with it, one row per generator"
    assert {r["source"]: r["n_real"] for r in rows if not r["n_fake"]} == {"diffusion": 231, "synthetic": 150}, \
        "and, per source, the real photos it calls generated"
    calibration = meta["kind_training"][GENERATED]["calibration"]
    assert calibration["bias"] < calibration["bias_fitted"] and calibration["val_photos_called"] <= 0.03


def test_the_face_swap_head_is_the_base_model_bit_for_bit():
    model, meta = load_checkpoint()
    assert isinstance(model, KindHeads)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 3, 224, 224)).astype(np.float32))
    with torch.inference_mode():
        both, alone = model(x), model.base(x)
    assert both.shape == (3, 2)
    assert torch.equal(both[:, :1], alone), "adding a kind must not change the face-swap verdict"


def test_held_out_generated_faces_are_called_generated_and_photos_real(detector, held_out):
    from sklearn.metrics import roc_auc_score

    fakes, reals = held_out
    results = [detector.predict_image(p) for p in fakes + reals]
    labels = [1] * len(fakes) + [0] * len(reals)
    generated = [r.scores[GENERATED] for r in results]
    assert roc_auc_score(labels, generated) >= 0.9
    called = [r.kind for r in results[:len(fakes)]]
    assert called.count(GENERATED) >= 0.75 * len(fakes), called
    # the generated head leaves most photos alone (the face-swap head does not: see the model card)
    assert sum(r.scores[GENERATED] >= 0.5 for r in results[len(fakes):]) <= 0.25 * len(reals)


def test_held_out_flux_portraits_of_a_new_person_rank_above_his_photos(detector, held_out_person):
    """The diffusion side of the head, on a person whose photos and portraits it never trained on."""
    from sklearn.metrics import roc_auc_score

    fakes, reals = held_out_person
    scores = [detector.predict_image(p).scores[GENERATED] for p in fakes + reals]
    assert roc_auc_score([1] * len(fakes) + [0] * len(reals), scores) >= 0.75
    assert sum(p >= 0.5 for p in scores[len(fakes):]) <= 1, "his photos are not called generated"


def test_a_json_record_carries_every_kind(tmp_path, held_out, capsys):
    fake = held_out[0][0]
    shutil.copy(fake, tmp_path / "portrait.jpg")
    assert main(["predict", "--input", str(tmp_path), "--json", "-", "--device", "cpu"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert set(rec["scores"]) == {MANIPULATED, GENERATED}
    assert rec["fake_probability"] == pytest.approx(max(rec["scores"].values()))
    assert rec["kind"] == (max(rec["scores"], key=rec["scores"].get) if rec["prediction"] == "FAKE" else None)


def test_v1_two_lines_stay_and_the_kind_is_said_on_stderr(held_out, capsys):
    assert main(["predict", "--image", str(held_out[0][0]), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Prediction : ") and lines[1].startswith("Confidence : ")
    assert "kind of fake:" in err and "generated" in err


def test_the_generated_heatmap_comes_from_its_own_head(detector, held_out):
    from flashivy.explain.heatmaps import face_heatmap
    from flashivy.faces.detectors import crop_face
    from flashivy.media.images import load_image

    rgb = load_image(held_out[0][0])
    crop = crop_face(rgb, detector.face_detector.detect(rgb)[0].box, detector.margin, detector.size)
    gen, _ = face_heatmap(detector, crop, kind=GENERATED)
    swap, _ = face_heatmap(detector, crop, kind=MANIPULATED)
    assert gen.shape == swap.shape == (224, 224)
    assert gen.max() > 0.5 and not np.allclose(gen, swap, atol=0.05), "two heads, two maps"
    with pytest.raises(Exception, match="no 'blurred' head"):
        face_heatmap(detector, crop, kind="blurred")


def test_onnx_scores_both_heads_like_torch(tmp_path, held_out):
    from flashivy.inference.backends import OnnxScorer
    from flashivy.inference.export import export_onnx
    from flashivy.media.images import load_image
    from flashivy.models.preprocess import normalise

    out = export_onnx(DEFAULT_CHECKPOINT, tmp_path / "m.onnx")
    det = Detector.from_checkpoint(device="cpu", backend="torch")
    import cv2

    batch = normalise([cv2.resize(load_image(p), (224, 224)) for p in held_out[0][:3]], det.meta["mean"],
                      det.meta["std"])
    a, b = det.scorer.logits(batch), OnnxScorer(out).logits(batch)
    assert a.shape == b.shape == (3, 2)
    assert np.abs(a - b).max() < 1e-3


def test_in_a_video_the_generated_head_sees_every_fourth_frame(ffpp_real_video):
    det = Detector.from_checkpoint(device="cpu", backend="onnx")
    assert det.later_heads_every == 4
    sparse = det.predict_video(ffpp_real_video)
    det.later_heads_every = 1
    dense = det.predict_video(ffpp_real_video)
    frames = sorted({f.frame for f in sparse.faces})
    assert len(frames) == 32 and len(sparse.persons) == 1
    assert sorted(f.frame for f in sparse.faces if GENERATED in f.scores) == frames[::4]
    assert all(list(f.scores) == [MANIPULATED] for f in sparse.faces if f.frame not in frames[::4])
    person = sparse.persons[0]
    assert person.scores[GENERATED] == pytest.approx(np.mean([f.scores[GENERATED] for f in sparse.faces
                                                             if GENERATED in f.scores]))
    # the face-swap head is untouched: same per-face scores, same person score
    assert [f.scores[MANIPULATED] for f in sparse.faces] == pytest.approx([f.scores[MANIPULATED] for f in dense.faces])
    assert person.scores[MANIPULATED] == pytest.approx(dense.persons[0].scores[MANIPULATED])
    assert all(set(f.scores) == {MANIPULATED, GENERATED} for f in dense.faces)


def test_a_single_head_checkpoint_reads_as_before(held_out):
    det = Detector.from_checkpoint(DEFAULT_CHECKPOINT.parent / "baseline.safetensors", device="cpu")
    result = det.predict_image(held_out[1][0])
    assert det.kinds == [MANIPULATED] and list(result.scores) == [MANIPULATED]
    assert result.fake_probability == result.scores[MANIPULATED]


def test_train_kind_trains_only_its_branch_and_reports_held_out(tmp_path, held_out):
    """A two-epoch run on a few real StyleGAN/FFHQ images: the face-swap head and trunk stay as they were."""
    model, meta = load_checkpoint()
    base_meta = {k: v for k, v in meta.items() if k not in ("heads", "branch_at", "kind_training", "base_sha256")}
    base_path = save_checkpoint(tmp_path / "base.safetensors", model.base, base_meta)
    kind_root = tmp_path / "synthetic"
    for label, paths in (("fake", held_out[0]), ("real", held_out[1])):
        (kind_root / label).mkdir(parents=True)
        for p in paths:
            shutil.copy(p, kind_root / label / p.name)
    others = tmp_path / "others"
    write_face_crops(others, n_videos=4, per_video=2)
    cfg = KindConfig(base=str(base_path), kind_sources={"synthetic": str(kind_root)},
                     other_sources={"video": str(others)}, branch_at=6, out=str(tmp_path / "run"), epochs=2,
                     samples_per_epoch=16, batch_size=8, workers=0, val_fraction=0.25, test_fraction=0.25)
    report = train_kind(cfg)
    trained, tmeta = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert [h["kind"] for h in tmeta["heads"]] == [MANIPULATED, GENERATED]
    assert tmeta["heads"][1]["temperature"] > 0 and tmeta["base_sha256"]
    base_state, new_state = model.base.state_dict(), trained.base.state_dict()
    assert all(torch.equal(base_state[k], new_state[k]) for k in base_state), "the base never trains"
    copied = {k: v for k, v in model.base.state_dict().items() if k.startswith("blocks.6.")}
    branch = trained.branches[GENERATED].state_dict()
    assert copied and any(not torch.equal(v, branch[k].float()) for k, v in copied.items()
                          if v.is_floating_point()), "the branch did train"  # (its blocks keep their numbers)
    assert set(report["test"]["synthetic"]["conditions"]) == {"jpeg70", "half_scale", "blur1"}
    assert load_source(kind_root, "synthetic")  # the v1 layout the recipe's split is recomputed from
    rows = [r for r in read_metadata(tmp_path / "run" / "best.safetensors")["tested_on"] if r.get("kind")]
    # fakes that name no generator go by their source's name; then the row of that source's real photos
    assert [(r["method"], bool(r["n_fake"])) for r in rows] == [("synthetic", True), ("", False)]
    # carried over (init): the trained head is scored before training on and kept unless an epoch beats it
    from dataclasses import replace
    again = train_kind(replace(cfg, init=str(tmp_path / "run" / "best.safetensors"), out=str(tmp_path / "again"),
                               epochs=1))
    assert again["test"]["synthetic"]["n"] == report["test"]["synthetic"]["n"]
    log = json.loads(torch.load(tmp_path / "again" / "last.pt", weights_only=True)["log"])
    assert [row["epoch"] for row in log] == [0, 1] and log[0]["train_loss"] != log[0]["train_loss"]  # NaN: no training yet


def test_the_reading_names_what_the_generated_head_never_saw():
    from flashivy.inference import reading as rd

    meta = read_metadata(DEFAULT_CHECKPOINT)
    note = rd.cli_note(meta)
    assert "StyleGAN faces against real photos (frame AUC" in note, "its own held-out figures, per generator"
    assert "Stable Diffusion 2.1 portraits against real photos" in note and "FLUX.1-dev portraits" in note
    assert "called generated)" in note, "how many it catches and how many real photos it calls generated"
    assert "on the one left out" in note, "what a generator it never saw scored"
    assert "newer diffusion models" in note and "confidently wrong" in note, "three generators are not all"
    assert "likely to be a fake (manipulated or generated)" in rd.reading(0.9, 0.5, meta)


def test_a_trained_head_carries_over_to_a_base_fine_tuned_above_the_trunk():
    """``init``: the generated branch moves to a face-swap model whose later blocks changed, never to one
    whose shared trunk changed (the branch reads the trunk's features)."""
    from flashivy.core.errors import UserError
    from flashivy.training.train_kind import trained_branch

    shipped, meta = load_checkpoint()
    base, _ = load_checkpoint()
    base = base.base
    with torch.no_grad():
        base.blocks[4][0].conv_pw.weight.mul_(1.01)  # above the trunk: allowed
    model = KindHeads(base, meta["branch_at"], [GENERATED])
    branch = trained_branch(str(DEFAULT_CHECKPOINT), model, GENERATED)
    mine, theirs = branch.state_dict(), shipped.branches[GENERATED].state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    with torch.no_grad():
        base.blocks[1][0].conv_pw.weight.mul_(1.01)  # inside the trunk
    with pytest.raises(UserError, match="trunk"):
        trained_branch(str(DEFAULT_CHECKPOINT), KindHeads(base, meta["branch_at"], [GENERATED]), GENERATED)
