"""Phone videos and rotated photos are analysed upright, as players and viewers show them."""
import numpy as np
import pytest
from conftest import astronaut_frames, write_rotated_video, write_video
from PIL import Image

from flashivy.media.video import iter_frames, probe


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_decodes_upright(tmp_path, rotation):
    frames = astronaut_frames(12)
    upright = [f for _, f in iter_frames(write_video(tmp_path / "upright.mp4", frames), [0, 6, 11])]
    video = write_rotated_video(tmp_path / f"rot{rotation}.mp4", frames, rotation)
    info = probe(video)
    assert info.rotation == rotation and (info.width, info.height) == (320, 240)
    got = [f for _, f in iter_frames(video, [0, 6, 11])]
    assert [f.shape for f in got] == [(240, 320, 3)] * 3
    for a, b in zip(got, upright):  # the same picture up to H.264 noise, not a turned one
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 4


def _clip(video, n=40):
    return [f for _, f in iter_frames(video, list(range(n)))]


@pytest.fixture(scope="module")
def detector():
    from flashivy.inference.detector import Detector

    return Detector.from_checkpoint()


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_real_fake_clip_gets_the_upright_verdict(tmp_path, detector, ffpp_fake_video, rotation):
    frames = _clip(ffpp_fake_video)
    upright = detector.predict_video(write_video(tmp_path / "upright.mp4", frames), num_frames=16)
    turned = detector.predict_video(write_rotated_video(tmp_path / f"rot{rotation}.mp4", frames, rotation),
                                    num_frames=16)
    assert upright.fake_probability > 0.5  # a Deepfakes clip the model calls fake upright
    assert abs(turned.fake_probability - upright.fake_probability) < 0.05
    assert len(turned.faces) == len(upright.faces)


def test_exif_rotated_photo_gets_the_upright_verdict(tmp_path, detector, astronaut):
    upright_path, rotated_path = tmp_path / "upright.jpg", tmp_path / "exif6.jpg"
    Image.fromarray(astronaut).save(upright_path, quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view": the pixels are stored turned the other way
    Image.fromarray(np.rot90(astronaut, 1)).save(rotated_path, quality=95, exif=exif)
    a, b = detector.predict_image(upright_path), detector.predict_image(rotated_path)
    assert a.crop == b.crop == "detect"
    assert abs(a.fake_probability - b.fake_probability) < 0.05


def test_explain_on_a_phone_video_is_upright(tmp_path):
    """Heatmaps and the annotated MP4 of a rotated video come out as the viewer sees it."""
    import cv2

    from flashivy.app.cli import main

    frames = astronaut_frames(16)
    video = write_rotated_video(tmp_path / "phone.mp4", frames, 90)
    out = tmp_path / "ex"
    assert main(["explain", "--video", str(video), "--out", str(out), "--frames", "4", "--mp4",
                 "--device", "cpu"]) == 0
    annotated = out / "phone_annotated.mp4"
    info = probe(annotated)
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    first = next(iter_frames(annotated, [0]))[1]
    # the picture matches the upright frame away from the drawn box: the face is where it is upright
    assert np.abs(first[200:, :].astype(int) - frames[0][200:, :].astype(int)).mean() < 12
    # the heatmap sheet shows the faces upright: as the same clip stored upright gives it, not turned
    upright = write_video(tmp_path / "upright.mp4", frames)
    assert main(["explain", "--video", str(upright), "--out", str(out), "--frames", "4", "--device", "cpu"]) == 0
    phone, plain = (cv2.imread(str(out / f"{stem}_faces.png")).astype(int) for stem in ("phone", "upright"))
    assert phone.shape == plain.shape
    tile, plain_tile = phone[4:132, 4:132], plain[4:132, 4:132]  # the first face's heatmap, 128 px
    assert np.abs(tile - plain_tile).mean() < 12 < np.abs(tile - np.rot90(plain_tile)).mean()
