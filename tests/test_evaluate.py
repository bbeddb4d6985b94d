"""flashivy evaluate on a crop folder and on a video root in the FF++ layout."""
import json

from test_pipeline import _dataset
from conftest import write_face_crops

from flashivy.cli import main


def test_evaluate_crop_folder(tmp_path):
    write_face_crops(tmp_path / "faces")
    assert main(["evaluate", str(tmp_path / "faces"), "--out", str(tmp_path / "ev"), "--device", "cpu"]) == 0
    report = json.loads((tmp_path / "ev/report.json").read_text())
    assert report["all"]["n"] == 48 and report["all"]["n_fake"] == 24
    assert 0 <= report["all"]["auc"] <= 1 and report["all"]["video"]["n"] == 12
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
