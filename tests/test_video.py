import numpy as np
import pytest

from flashivy.errors import UserError
from flashivy.video import iter_frames, probe, sample_frames, sample_indices


def test_sample_indices_even_and_every():
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    assert sample_indices(10, 32) == list(range(10))
    assert sample_indices(10, every=3) == [0, 3, 6, 9]
    assert sample_indices(0, 32) == []


def test_generated_video_frames_are_decoded_at_the_right_indices(face_video):
    info = probe(face_video)
    assert info.frames == 40 and (info.width, info.height) == (320, 240)
    _, frames = sample_frames(face_video, num_frames=4)
    got = list(frames)
    assert [i for i, _ in got] == sample_indices(40, 4)
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for _, f in got)
    # frames differ (the face moves), so these really are different frames
    assert not np.array_equal(got[0][1], got[-1][1])


def test_real_ffpp_video_sampling(ffpp_real_video):
    info = probe(ffpp_real_video)
    assert info.frames > 300 and info.fps > 20
    _, frames = sample_frames(ffpp_real_video, num_frames=32)
    got = list(frames)
    assert len(got) == 32
    assert got[0][1].shape == (info.height, info.width, 3)


def test_bad_videos_give_user_errors(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UserError):
        probe(empty)
    with pytest.raises(UserError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 10)
    with pytest.raises(UserError):
        probe(text)


def test_truncated_video_keeps_what_decodes(face_video, tmp_path):
    data = face_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        frames = list(iter_frames(cut, list(range(40))))
    except UserError:
        return  # refusing the file outright is fine too; crashing is not
    assert len(frames) < 40
