"""CPU time (all threads) and wall time of each stage of a video verdict: is the pipeline waiting, or working?

    python benchmarks/cpu_stages.py [VIDEO_ROOT] [--limit 10] [--compare CHECKPOINT]

Prints the median per stage over the first --limit videos: decode (the frames a verdict needs), detect,
classify (every head on every face, and the --compare checkpoint's heads), and the whole verdict.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(work):
    cpu, wall = time.process_time(), time.perf_counter()
    out = work()
    return out, (time.process_time() - cpu, time.perf_counter() - wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, nargs="?", default=REPO.parent / "shared" / "data" / "ffpp_c23")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--compare", type=Path, metavar="CHECKPOINT")
    args = parser.parse_args(argv)

    from flashivy.faces.detectors import crop_face
    from flashivy.inference.detector import Detector
    from flashivy.media.layout import find_videos
    from flashivy.media.video import sample_frames

    detector = Detector.from_checkpoint(device="cpu")
    other = Detector.from_checkpoint(args.compare, device="cpu") if args.compare else None
    rows = []
    for path in [item.path for item in find_videos(args.root)][:args.limit]:
        row = {}
        frames, row["decode"] = timed(lambda: [frame for _, frame in sample_frames(path, 32)[1]])
        faces, row["detect"] = timed(lambda: [detector.face_detector.detect(frame) for frame in frames])
        crops = [crop_face(f, fs[0].box, detector.margin, detector.size) for f, fs in zip(frames, faces) if fs]
        _, row["classify, every head"] = timed(lambda: detector.kind_probabilities(crops))
        if other is not None:
            _, row[f"classify, {args.compare.name}"] = timed(lambda: other.kind_probabilities(crops))
        _, row["verdict, end to end"] = timed(lambda: detector.predict_video(path))
        rows.append(row)
    for stage in rows[0]:
        cpu = statistics.median(r[stage][0] for r in rows)
        wall = statistics.median(r[stage][1] for r in rows)
        print(f"{stage:<40} CPU {cpu:6.3f} s   wall {wall:6.3f} s")
    print(f"({len(rows)} videos of {args.root}, median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
