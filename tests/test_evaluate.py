"""flashivy evaluate on a crop folder and on a video root in the FF++ layout."""
import json

import numpy as np
import pytest
from conftest import write_face_crops
from sklearn.metrics import roc_auc_score
from test_pipeline import _dataset

from flashivy.app.cli import main
from flashivy.datasets.samples import load_source
from flashivy.inference.detector import Detector
from flashivy.media.images import load_image


def _scored_by_hand(root, transform=None):
    """Labels, videos and the shipped model's probabilities for a crop folder, without flashivy evaluate."""
    samples = load_source(root)
    det = Detector.from_checkpoint(device="cpu")
    images = [load_image(s.path) for s in samples]
    probs = det.score_crops([transform(im) if transform else im for im in images])
    return np.array([s.label for s in samples]), [s.video for s in samples], probs


def test_evaluate_crop_folder(tmp_path):
    write_face_crops(tmp_path / "faces")
    assert main(["evaluate", str(tmp_path / "faces"), "--out", str(tmp_path / "ev"), "--device", "cpu"]) == 0
    report = json.loads((tmp_path / "ev/report.json").read_text())
    assert report["all"]["n"] == 48 and report["all"]["n_fake"] == 24 and report["all"]["video"]["n"] == 12
    # the figures are those of the model's own scores on these crops, frame and video level
    labels, videos, probs = _scored_by_hand(tmp_path / "faces")
    assert report["all"]["auc"] == pytest.approx(roc_auc_score(labels, probs), abs=1e-6)
    means = {v: np.mean([p for p, w in zip(probs, videos) if w == v]) for v in set(videos)}
    video_labels = {v: y for v, y in zip(videos, labels)}
    keys = sorted(means)
    video_auc = roc_auc_score([video_labels[k] for k in keys], [means[k] for k in keys])
    assert report["all"]["video"]["auc"] == pytest.approx(video_auc, abs=1e-6)
    assert (tmp_path / "ev/roc.png").stat().st_size > 1000


def test_evaluate_video_root_and_exclusion(tmp_path):
    root = _dataset(tmp_path / "ff")
    out = tmp_path / "ev"
    assert main(["evaluate", str(root), "--out", str(out), "--frames", "4", "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    # the fake clip has no face: reported as such, not scored
    assert report["videos_without_face"] == ["Deepfakes_000_003"]
    assert report["all"]["n"] == 4 and report["video_verdicts"]["n"] == 1
    # excluding the only group leaves nothing: one clear error
    (tmp_path / "splits.json").write_text(json.dumps({"train": ["ff:000"], "val": [], "test": []}))
    assert main(["evaluate", str(root), "--out", str(out), "--exclude", str(tmp_path / "splits.json")]) == 1


def test_perturbations_are_applied_before_the_pipeline(tmp_path, capsys, astronaut):
    from flashivy.evaluation.perturb import parse

    write_face_crops(tmp_path / "faces")
    out = tmp_path / "rob"
    assert main(["evaluate", str(tmp_path / "faces"), "--out", str(out), "--perturb", "jpeg=30,blur=3,downscale",
                 "--device", "cpu"]) == 0
    rows = json.loads((out / "report.json").read_text())["robustness"]
    assert list(rows) == ["clean", "jpeg=30", "blur=3", "downscale=2", "downscale=4"]
    assert all(r["n"] == 48 for r in rows.values())
    # each row is the AUC of the crops *after* that perturbation, not the clean one again
    perturbations = {p.name: p for p in parse("jpeg=30,blur=3,downscale")}
    for name, row in rows.items():
        labels, _, probs = _scored_by_hand(tmp_path / "faces", perturbations.get(name))
        assert row["frame_auc"] == pytest.approx(roc_auc_score(labels, probs), abs=1e-6), name
    assert rows["blur=3"]["frame_auc"] != rows["clean"]["frame_auc"]
    assert (out / "robustness.png").stat().st_size > 1000
    assert "blur=3" in capsys.readouterr().out  # the table
    # each perturbation really changes the pixels, the strongest the most
    for kind in ("jpeg", "blur", "downscale", "noise"):
        changes = [abs(p(astronaut).astype(int) - astronaut).mean() for p in parse(kind)]
        assert 0 < changes[0] <= changes[-1], (kind, changes)
    assert main(["evaluate", str(tmp_path / "faces"), "--perturb", "sepia"]) == 1
