import numpy as np
import pytest
from conftest import astronaut_frames, source_frame_of, write_video

from flashivy.core.errors import UserError
from flashivy.media.video import iter_frames, probe, sample_frames, sample_indices


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
    assert [i for i, _ in got] == [5, 15, 25, 35]  # evenly spaced: the middle of four equal parts
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for _, f in got)
    # the pixels are those of the frame the index names (the camera pans, each frame differs)
    sources = astronaut_frames()
    assert [source_frame_of(f, sources) for _, f in got] == [5, 15, 25, 35]
    assert all(np.abs(f.astype(int) - sources[i]).mean() < 5 for i, f in got)


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


def test_a_video_cut_before_its_index_is_refused_clearly(face_video, tmp_path):
    data = face_video.read_bytes()  # PyAV writes the MP4 index (moov) last: half the file has none
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a readable video"):
        list(iter_frames(cut, list(range(40))))


def test_a_streamed_video_cut_short_keeps_the_frames_that_arrived(tmp_path):
    sources = astronaut_frames()
    data = write_video(tmp_path / "streamed.mp4", sources, faststart=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.85)])
    got = list(iter_frames(cut, list(range(40))))
    indices = [i for i, _ in got]
    assert 5 <= len(got) < 40 and indices == list(range(len(got))), indices  # a prefix, nothing invented
    assert [source_frame_of(f, sources) for _, f in got] == indices
