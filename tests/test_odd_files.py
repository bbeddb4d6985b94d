"""Odd but valid files keep working: variable frame rate, one frame, two video streams, awkward names."""
import json
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import astronaut_frames, write_video

from flashivy.app.cli import main
from flashivy.media.video import iter_frames, probe


@pytest.fixture(scope="module")
def detector():
    from flashivy.inference.detector import Detector

    return Detector.from_checkpoint()


def _encode(stream, container, rgb, pts=None):
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    if pts is not None:
        frame.pts = pts
    for packet in stream.encode(frame):
        container.mux(packet)


def _flush(stream, container):
    for packet in stream.encode():
        container.mux(packet)


def test_variable_frame_rate_video(tmp_path, detector):
    path = tmp_path / "vfr.mp4"
    frames = astronaut_frames(30)
    gaps = np.cumsum([0] + [20 if i % 3 else 90 for i in range(29)])  # 11 to 50 fps, in milliseconds
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for rgb, pts in zip(frames, gaps):
            _encode(stream, out, rgb, int(pts))
        _flush(stream, out)
    assert probe(path).frames == 30
    result = detector.predict_video(path, num_frames=10)
    assert result.frames == 10 and result.prediction == "REAL" and len(result.persons) == 1


def test_one_frame_video(tmp_path, detector):
    path = write_video(tmp_path / "one.mp4", astronaut_frames(1))
    assert probe(path).frames == 1
    result = detector.predict_video(path)
    assert result.frames == 1 and len(result.faces) == 1 and result.prediction == "REAL"


def test_two_video_streams_use_the_default_one(tmp_path, detector):
    """A faceless preview track first, then the face clip flagged default: players show the default one,
    and so do we (the first stream would have no face)."""
    path = tmp_path / "two.mp4"
    frames = astronaut_frames(20)
    with av.open(str(path), "w") as out:
        preview = out.add_stream("libx264", rate=25)
        preview.width, preview.height, preview.pix_fmt = 64, 48, "yuv420p"
        main_stream = out.add_stream("libx264", rate=25)
        main_stream.width, main_stream.height, main_stream.pix_fmt = 320, 240, "yuv420p"
        preview.disposition, main_stream.disposition = av.stream.Disposition(0), av.stream.Disposition.default
        for rgb in frames:
            _encode(preview, out, np.full((48, 64, 3), 200, np.uint8))
            _encode(main_stream, out, rgb)
        _flush(preview, out)
        _flush(main_stream, out)
    info = probe(path)
    assert (info.width, info.height, info.frames) == (320, 240, 20)
    assert next(iter_frames(path, [0]))[1].shape == (240, 320, 3)
    single = detector.predict_video(write_video(tmp_path / "one_stream.mp4", frames))
    both = detector.predict_video(path)
    assert len(both.faces) == len(single.faces) > 0
    assert abs(both.fake_probability - single.fake_probability) < 0.05


def test_names_with_newlines_and_quotes_keep_the_json_lines_valid(tmp_path, astronaut, capsys):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    names = ['a "quoted" face.jpg', "line\nbreak.jpg", "back\\slash 'single'.jpg"]
    for name in names:
        Image.fromarray(astronaut).save(folder / name, quality=92)
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--input", str(folder), "--json", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == len(names)  # a newline inside a name does not split a record
    records = [json.loads(line) for line in lines]
    assert sorted(r["path"].rsplit("/", 1)[-1] for r in records) == sorted(names)
    assert all(r["prediction"] == "REAL" and r["error"] is None and r["warnings"] == [] for r in records)
