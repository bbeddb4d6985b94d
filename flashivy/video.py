"""Video decoding and frame sampling with PyAV (FFmpeg).

Frames are streamed, never dumped: only the sampled frames are converted to
arrays. The frame count is measured by demuxing (cheap, no decoding) because
container metadata is often missing or wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import UserError, require_file
from .timeouts import check, remaining

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


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
        raise UserError(f"{path}: permission denied") from None
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable video ({_reason(exc)})") from None
    if not container.streams.video:
        container.close()
        raise UserError(f"{path}: has no video stream")
    return container


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def probe(path: str | Path) -> VideoInfo:
    """Frame count (by demuxing), frame rate and size of the first video stream."""
    import av

    with _open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        width, height = stream.codec_context.width, stream.codec_context.height
        try:
            frames = sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError as exc:
            raise UserError(f"{path}: corrupt video ({_reason(exc)})") from None
    if frames == 0:
        raise UserError(f"{path}: video has no frames")
    return VideoInfo(frames=frames, fps=fps, width=width, height=height)


def iter_frames(path: str | Path, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, RGB uint8 array)`` for the wanted frame indices, in order.

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
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if index in wanted_set:
                    yield index, frame.to_ndarray(format="rgb24")
                if index >= last:
                    break
        except av.error.FFmpegError:
            # Truncated or damaged tail: keep the frames decoded so far.
            return


def prefetch(items: Iterator, depth: int = 4) -> Iterator:
    """Run ``items`` in a background thread, ``depth`` ahead, so decoding overlaps the caller's work.

    FFmpeg releases the GIL while it decodes, so this is real overlap. Errors
    raised by the producer are re-raised in the caller; under a
    :func:`~flashivy.timeouts.time_limit` a producer that stalls is abandoned.
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
