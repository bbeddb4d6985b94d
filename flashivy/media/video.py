"""Video decoding and frame sampling with PyAV (FFmpeg).

Frames are streamed, never dumped: only the sampled frames are converted to
arrays. The frame count is measured by demuxing (cheap, no decoding) because
container metadata is often missing or wrong. Frames come out upright: a phone
stores a portrait video as landscape frames plus a display rotation, which every
player applies, and so do we.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..core.errors import InputError, UserError, require_file
from ..core.timeouts import check, remaining

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int  # as displayed (after the rotation)
    height: int
    rotation: int = 0  # display rotation, degrees counter-clockwise (0, 90, 180, 270)
    bit_rate: int = 0  # of the video stream (or the whole file when the stream does not say), bits/s

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps else 0.0

    @property
    def bits_per_pixel(self) -> float | None:
        """How hard the video was compressed: bits spent per pixel of each frame."""
        pixels = self.width * self.height * self.fps
        return self.bit_rate / pixels if self.bit_rate and pixels else None


def sample_indices(total: int, num_frames: int | None = 32, every: int | None = None) -> list[int]:
    """Indices of the frames to keep: every k-th frame, or ``num_frames`` evenly spaced.

    Evenly spaced frames are centred in equal segments, so 1 frame of 100 is
    frame 50, not frame 0.
    """
    if total <= 0:
        return []
    if every is not None:
        if every < 1:
            raise ValueError("every must be >= 1")
        return list(range(0, total, every))
    if num_frames is None or num_frames >= total:
        return list(range(total))
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    step = total / num_frames
    return [int(step * i + step / 2) for i in range(num_frames)]


def _open(path: str | Path):
    import av

    path = Path(path)
    require_file(path)
    try:
        container = av.open(str(path))
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable video ({_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: has no video stream")
    return container


def _stream(container):
    """The stream FFmpeg itself would play: the default one when a file holds several."""
    return container.streams.best("video") or container.streams.video[0]


def rotation_of(frame) -> int:
    """The frame's display rotation in degrees counter-clockwise, as a multiple of 90 (0 when absent or odd)."""
    try:
        angle = float(frame.rotation)
    except (AttributeError, TypeError, ValueError):
        return 0
    turns = angle / 90
    return int(round(turns)) % 4 * 90 if abs(turns - round(turns)) < 0.01 and abs(angle) <= 360 else 0


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as a player shows it: turned ``rotation`` degrees counter-clockwise."""
    return np.ascontiguousarray(np.rot90(rgb, rotation // 90)) if rotation % 360 else rgb


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def probe(path: str | Path) -> VideoInfo:
    """Frame count (by demuxing), frame rate, displayed size and rotation of the video stream, in one pass."""
    import av

    frames, rotation = 0, None
    with _open(path) as container:
        stream = _stream(container)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        width, height = stream.codec_context.width, stream.codec_context.height
        bit_rate = int(stream.bit_rate or container.bit_rate or 0)
        try:
            for packet in container.demux(stream):
                frames += bool(packet.size)
                if rotation is None:  # the last, empty packet flushes a decoder that holds frames back
                    rotation = _rotation_in(packet)
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: corrupt video ({_reason(exc)})") from None
    if frames == 0:
        raise InputError(f"{path}: video has no frames")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(frames=frames, fps=fps, width=width, height=height, rotation=rotation or 0, bit_rate=bit_rate)


def _rotation_in(packet) -> int | None:
    """The display rotation of the first frame this packet decodes to (FFmpeg puts it there); None if none."""
    import av

    try:
        for frame in packet.decode():
            return rotation_of(frame)
    except av.error.FFmpegError:
        pass
    return None


def iter_frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, upright RGB uint8 array)`` for the wanted frame indices, in order.

    Decoding stops after the last wanted frame. A stream that ends early or is
    corrupt part-way yields what it could decode.
    """
    import av

    wanted = sorted(set(indices))
    if not wanted:
        return
    last = wanted[-1]
    wanted_set = set(wanted)
    with _open(path) as container:
        stream = _stream(container)
        stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if index in wanted_set:
                    yield index, upright(frame.to_ndarray(format="rgb24"), rotation_of(frame))
                if index >= last:
                    break
        except av.error.FFmpegError:
            # Truncated or damaged tail: keep the frames decoded so far.
            return


def prefetch(items: Iterator, depth: int = 4) -> Iterator:
    """Run ``items`` in a background thread, ``depth`` ahead, so decoding overlaps the caller's work.

    FFmpeg releases the GIL while it decodes, so this is real overlap. Errors
    raised by the producer are re-raised in the caller; under a
    :func:`~flashivy.core.timeouts.time_limit` a producer that stalls is abandoned.
    """
    import queue
    import threading

    done = object()
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    break
                box.put(item)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            box.put(exc)
        box.put(done)

    thread = threading.Thread(target=produce, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = box.get(timeout=remaining())
            except queue.Empty:  # the decoder is stuck past the time limit: abandon it
                check()
                continue
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # Drop what was queued and leave: the producer sees ``stop`` and ends on its own
        # (never joined, so a decoder stuck in a damaged file cannot hang the caller).
        stop.set()
        try:
            while True:
                box.get_nowait()
        except queue.Empty:
            pass


def sample_frames(
    path: str | Path, num_frames: int | None = 32, every: int | None = None
) -> tuple[VideoInfo, Iterator[tuple[int, np.ndarray]]]:
    """Probe a video and return its info with an iterator over the sampled frames."""
    info = probe(path)
    return info, iter_frames(path, sample_indices(info.frames, num_frames, every))


def is_video_file(path: str | Path) -> bool:
    """True when FFmpeg finds a decodable video stream in the file (by content)."""
    try:
        probe(path)
    except UserError:
        return False
    return True


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 25, codec: str = "libx264",
                container: str | None = None, faststart: bool = False) -> Path:
    """Encode RGB uint8 frames (one size; trimmed to even sides for yuv420p) to ``path``, atomically.

    The format follows ``path``'s suffix unless ``container`` names one; ``faststart`` puts the MP4 index
    first, as streamed files have it."""
    import av

    from ..core.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=container,
                                           options={"movflags": "faststart"} if faststart else {}) as out:
        stream = None
        for frame in frames:
            if stream is None:
                stream = out.add_stream(codec, rate=round(fps) or 25)
                stream.height, stream.width = frame.shape[0] - frame.shape[0] % 2, frame.shape[1] - frame.shape[1] % 2
                stream.pix_fmt = "yuv420p"
            frame = np.ascontiguousarray(frame[:stream.height, :stream.width])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        for packet in stream.encode():
            out.mux(packet)
    return path
