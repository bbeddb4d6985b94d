"""Videos to frames to crops, and videos straight to crops, with the index and resume."""
import json
import shutil
from pathlib import Path

from conftest import astronaut_frames, write_video

from flashivy.app.cli import main
from flashivy.datasets.crops import read_index
from flashivy.media.layout import find_videos, group_ids


def _dataset(root: Path) -> Path:
    frames = astronaut_frames(20)
    (root / "original_sequences/youtube/c23/videos").mkdir(parents=True)
    write_video(root / "original_sequences/youtube/c23/videos/000.mp4", frames)
    (root / "manipulated_sequences/Deepfakes/c23/videos").mkdir(parents=True)
    blank = [f * 0 + 40 for f in frames]  # no face at all
    write_video(root / "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4", blank)
    return root


def test_layout_labels_and_groups(tmp_path):
    items = find_videos(_dataset(tmp_path / "ff"))
    assert [(i.label, i.method, i.video, i.group) for i in items] == [
        ("fake", "Deepfakes", "Deepfakes_000_003", "000"), ("real", "original", "000", "000")]
    assert group_ids(["033", "097", "033_097", "097_033", "500"]) == {
        "033": "033", "097": "033", "033_097": "033", "097_033": "033", "500": "500"}


def test_frames_then_crops_v1_layout(tmp_path):
    root = _dataset(tmp_path / "ff")
    assert main(["frames", str(root), "-o", str(tmp_path / "frames"), "-n", "4"]) == 0
    meta = json.loads((tmp_path / "frames/real/000/meta.json").read_text())
    assert meta["frames"] == [2, 7, 12, 17] and meta["label"] == "real"
    assert len(list((tmp_path / "frames/real/000").glob("*.jpg"))) == 4
    assert main(["crop", str(tmp_path / "frames"), "-o", str(tmp_path / "faces")]) == 0
    rows = read_index(tmp_path / "faces/index.csv")
    real = [r for r in rows if r.label == "real"]
    fake = [r for r in rows if r.label == "fake"]
    assert len(real) == 4 and all(r.path for r in real)
    assert (tmp_path / "faces" / real[0].path).name == "000_00002.jpg"
    # frames without a face are recorded, not dropped
    assert len(fake) == 4 and all(r.path == "" and r.face == -1 for r in fake)


def test_streaming_crops_and_resume(tmp_path, capsys):
    root = _dataset(tmp_path / "ff")
    out = tmp_path / "faces"
    assert main(["faces", str(root), "-o", str(out), "-n", "5", "--detector", "haar", "--size", "96"]) == 0
    rows = read_index(out / "index.csv")
    crops = [r for r in rows if r.path]
    assert len(crops) == 5 and all(r.detector == "haar" and r.size == 96 for r in crops)
    from flashivy.media.images import load_image

    assert load_image(out / crops[0].path).shape == (96, 96, 3)
    # a second run skips finished videos and leaves the index as it was
    before = (out / "index.csv").read_text()
    shutil.rmtree(out / "real")
    assert main(["faces", str(root), "-o", str(out), "-n", "5", "--detector", "haar", "--size", "96"]) == 0
    assert (out / "index.csv").read_text() == before and not (out / "real").exists()


def test_missing_input_is_one_line_error(tmp_path, capsys):
    assert main(["faces", str(tmp_path / "nope"), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'nope'}: no such file or folder"]
