"""Speed of a video verdict: our pipeline against the v1-style pipeline, same videos, same run.

    python benchmarks/speed.py                      # the 60 FF++ videos of ../shared/data
    python benchmarks/speed.py VIDEO_ROOT --limit 10 --v1-all 2 --out runs/bench
    python benchmarks/speed.py --compare runs/old/best.safetensors   # also: the cost of a model change

Pipelines (all classify with the same shipped model, batched, so only the
front end differs):
  ours       PyAV decodes only up to the sampled frames (in a background thread),
             BlazeFace (MediaPipe's model, TFLite) detects, crops are scored in batches (Detector.predict_video).
  decode     the floor: probing and decoding the frames ours needs, nothing else.
  v1-32      v1's way on the same 32 frames: OpenCV reads the video, frames go to
             JPEG on disk, are read back, Haar finds faces, crops are classified.
  v1-all     v1's way on every frame (slow: on the first --v1-all videos only).

Prints a table, writes speed.json and speed.png (stage breakdown) to --out.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "data" / "ffpp_c23"


class Clock:
    """Accumulates wall time per stage."""

    def __init__(self):
        self.stages: dict[str, float] = {}

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.stages[stage] = self.stages.get(stage, 0.0) + now - start
        return now


def videos_to_time(root: Path | None, limit: int | None, scratch: Path) -> tuple[list[Path], str]:
    from flashivy.app.demo import sample_video
    from flashivy.media.layout import find_videos

    if root is not None and root.exists():
        videos = [item.path for item in find_videos(root)]
        label = str(root)
    else:  # no data here: generated clips of a public-domain face
        videos = [sample_video(scratch / f"generated_{i}.mp4", frames=240 + 60 * i) for i in range(4)]
        label = "generated clips (skimage astronaut), no video root found"
    return videos[:limit] if limit else videos, label


def decode_only(path: Path, num_frames: int) -> tuple[float, list[np.ndarray]]:
    from flashivy.media.video import sample_frames

    start = time.perf_counter()
    _, frames = sample_frames(path, num_frames)
    decoded = [frame for _, frame in frames]
    return time.perf_counter() - start, decoded


def ours_staged(detector, path: Path, num_frames: int) -> dict:
    """Our stages run one after another, to see where the time goes."""
    from flashivy.faces.detectors import crop_face
    from flashivy.faces.tracking import track

    clock = Clock()
    seconds, frames = decode_only(path, num_frames)
    clock.stages["decode"] = seconds
    t = time.perf_counter()
    faces = [detector.face_detector.detect(frame) for frame in frames]
    t = clock.add("detect", t)
    crops = [crop_face(frame, f.box, detector.margin, detector.size) for frame, fs in zip(frames, faces) for f in fs]
    every_head = [detector.every_head_on(i) for i, fs in enumerate(faces) for _ in fs]  # as predict_video
    t = clock.add("crop", t)
    probs = np.nanmax(detector.kind_probabilities(crops, every_head), axis=1)
    t = clock.add("classify", t)
    prob_of = dict(zip([(i, f.box) for i, fs in enumerate(faces) for f in fs], probs.tolist()))
    persons = [detector.face_aggregate([prob_of[(i, f.box)] for i, f in tr]) for tr in track(list(enumerate(faces)))]
    if persons:
        detector.video_aggregate(persons)
    clock.add("aggregate", t)
    return {"stages": clock.stages, "frames": len(frames), "with_face": sum(bool(fs) for fs in faces)}


def v1_style(detector, haar, path: Path, wanted: set[int] | None, scratch: Path) -> dict:
    """v1: read with OpenCV, every (wanted) frame to JPEG, read back, Haar, crop, classify."""
    from flashivy.faces.detectors import crop_face

    clock = Clock()
    folder = Path(tempfile.mkdtemp(dir=scratch))
    t = time.perf_counter()
    capture, index, written = cv2.VideoCapture(str(path)), 0, []
    last = max(wanted) if wanted else None
    while True:
        ok, frame = capture.read()
        if not ok or (last is not None and index > last):
            break
        if wanted is None or index in wanted:
            name = folder / f"{index:05d}.jpg"
            cv2.imwrite(str(name), frame)
            written.append(name)
        index += 1
    capture.release()
    t = clock.add("decode+write", t)
    crops, found = [], 0
    for name in written:
        rgb = cv2.cvtColor(cv2.imread(str(name)), cv2.COLOR_BGR2RGB)
        t = clock.add("read", t)
        faces = haar.detect(rgb)
        t = clock.add("detect", t)
        if faces:
            found += 1
            crops.append(crop_face(rgb, faces[0].box, detector.margin, detector.size))
        t = clock.add("crop", t)
    detector.score_crops(crops)
    clock.add("classify", t)
    for name in written:
        name.unlink()
    folder.rmdir()
    return {"stages": clock.stages, "frames": len(written), "with_face": found}


def detection_ms_720p(detector, videos: list[Path]) -> float | None:
    """Median BlazeFace time on 720p frames (from 720p videos, else frames resized to 1280x720)."""
    from flashivy.media.video import probe

    frames = []
    for path in videos:
        if probe(path).height == 720 or not frames:
            _, decoded = decode_only(path, 8)
            frames += [f if f.shape[0] == 720 else cv2.resize(f, (1280, 720)) for f in decoded]
        if len(frames) >= 64:
            break
    times = []
    for frame in frames:
        t = time.perf_counter()
        detector.face_detector.detect(frame)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times) if times else None


def cold_start_s(image: Path, runs: int = 3) -> float:
    """Wall time of a fresh `predict --image` process (import + model load + one image)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "predict.py"), "--image", str(image)], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def plot(path: Path, breakdown: dict[str, dict[str, float]], ours: list[str]) -> None:
    """Stacked stage bars: our pipeline against its decode floor (top), then against v1 (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flashivy.core.atomic import atomic_path

    stages = list(dict.fromkeys(s for b in breakdown.values() for s in b))
    colours = dict(zip(stages, plt.cm.tab10.colors))
    fig, axes = plt.subplots(2, 1, figsize=(9, 6.5), height_ratios=[len(ours), len(breakdown)])
    for ax, names, title in ((axes[0], ours, "ours against the decode floor"),
                             (axes[1], list(breakdown), "ours against the v1-style pipeline")):
        left = np.zeros(len(names))
        for stage in stages:
            widths = np.array([breakdown[n].get(stage, 0.0) for n in names])
            ax.barh(names, widths, left=left, color=colours[stage], label=stage if ax is axes[1] else None)
            left += widths
        for y, total in enumerate(left):
            ax.text(total, y, f" {total:.2f} s", va="center", fontsize=9)
        ax.set_xlim(0, left.max() * 1.15)
        ax.set_title(title, fontsize=10)
    axes[1].set_xlabel("median seconds per video")
    fig.legend(loc="lower center", ncol=len(stages), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def median_or_none(values) -> float | None:
    """Median, or None where a part was not timed (e.g. ``--v1-32 0``)."""
    values = list(values)
    return statistics.median(values) if values else None


def median_stages(runs: list[dict]) -> dict[str, float]:
    stages = dict.fromkeys(s for r in runs for s in r["stages"])
    return {s: statistics.median(r["stages"].get(s, 0.0) for r in runs) for s in stages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, nargs="?", default=DEFAULT_ROOT, help="videos (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="time only the first N videos")
    parser.add_argument("--v1-all", type=int, default=3, help="videos for the every-frame v1 pipeline")
    parser.add_argument("--v1-32", type=int, help="videos for v1 on the same 32 frames (default: all)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "bench")
    parser.add_argument("--compare", type=Path, metavar="CHECKPOINT",
                        help="also time this checkpoint end to end, alternating video by video with the default")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from flashivy.core.atomic import write_text_atomic
    from flashivy.faces.detectors import create_detector
    from flashivy.inference.detector import Detector
    from flashivy.media.video import probe, sample_indices

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        videos, label = videos_to_time(args.root, args.limit, scratch)
        detector = Detector.from_checkpoint(device="cpu")
        detector.face_detector  # load outside the timings
        haar = create_detector("haar")
        other = Detector.from_checkpoint(args.compare, device="cpu") if args.compare else None
        e2e, e2e_other, decode, staged, v132, v1all = [], [], [], [], [], []
        for path in tqdm(videos, desc="ours end to end", unit="video"):
            t = time.perf_counter()
            detector.predict_video(path, args.frames)
            e2e.append(time.perf_counter() - t)
            if other is not None:  # alternating, so both see the same machine load
                t = time.perf_counter()
                other.predict_video(path, args.frames)
                e2e_other.append(time.perf_counter() - t)
        rss = peak_rss_gb()  # nothing but our pipeline has run so far
        for path in tqdm(videos, desc="stages, decode floor, v1 on 32 frames", unit="video"):
            decode.append(decode_only(path, args.frames)[0])
            staged.append(ours_staged(detector, path, args.frames))
            if args.v1_32 is None or len(v132) < args.v1_32:
                wanted = set(sample_indices(probe(path).frames, args.frames))
                v132.append(v1_style(detector, haar, path, wanted, scratch))
        for path in tqdm(videos[: args.v1_all], desc="v1 on every frame", unit="video"):
            v1all.append(v1_style(detector, haar, path, None, scratch))
        det_ms = detection_ms_720p(detector, videos)
        image = scratch / "face.jpg"
        cv2.imwrite(str(image), data.astronaut()[..., ::-1])
        cold = cold_start_s(image)

    ours = statistics.median(e2e)
    n_all = len(v1all)
    totals = {
        "v1_all": [sum(r["stages"].values()) for r in v1all],
        "v1_32": [sum(r["stages"].values()) for r in v132],
    }
    found = {name: sum(r["with_face"] for r in runs) / sum(r["frames"] for r in runs) if runs else None
             for name, runs in (("ours", staged), ("haar", v132))}
    report = {
        "videos": len(videos), "data": label, "frames_per_video": args.frames,
        "cpu_threads": os.cpu_count(), "backend": detector.scorer.name,
        "ours_s_per_video": ours, "ours_frames_per_s": args.frames / ours, "ours_videos_per_min": 60 / ours,
        "decode_only_s_per_video": statistics.median(decode),
        "ours_over_decode_only": statistics.median(e / d for e, d in zip(e2e, decode)),
        "v1_32_s_per_video": median_or_none(totals["v1_32"]),
        "v1_32_videos": len(v132),
        "v1_32_over_ours": median_or_none(v / e for v, e in zip(totals["v1_32"], e2e)),
        "v1_all_videos": n_all,
        "v1_all_s_per_video": median_or_none(totals["v1_all"]),
        "v1_all_over_ours": median_or_none(v / e for v, e in zip(totals["v1_all"], e2e)),
        "face_found_ours": found["ours"], "face_found_haar": found["haar"],
        "detect_ms_720p": det_ms, "peak_rss_gb_ours": rss, "cold_start_predict_image_s": cold,
        "stages_ours": median_stages(staged), "stages_v1_32": median_stages(v132),
        "heads": detector.kinds, "compared_with": str(args.compare) if other else None,
        "compared_s_per_video": median_or_none(e2e_other),
        "ours_over_compared": median_or_none(e / o for e, o in zip(e2e, e2e_other)),
        "stages_v1_all": median_stages(v1all) if n_all else {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out / "speed.json", json.dumps(report, indent=2))
    breakdown = {"decode only": {"decode": report["decode_only_s_per_video"]},
                 "ours (stages in series)": report["stages_ours"], "ours (end to end)": {"overlapped": ours}}
    if v132:
        breakdown["v1, same 32 frames"] = report["stages_v1_32"]
    if n_all:
        breakdown[f"v1, every frame ({n_all} videos)"] = report["stages_v1_all"]
    plot(args.out / "speed.png", breakdown, ours=["decode only", "ours (stages in series)", "ours (end to end)"])
    print_table(report)
    print(f"\nwrote {args.out / 'speed.json'} and {args.out / 'speed.png'}", file=sys.stderr)
    return 0


def print_table(r: dict) -> None:
    def fmt(x, spec=".2f"):
        return "n/a" if x is None else format(x, spec)

    rows = [
        ("videos timed", str(r["videos"]), r["data"]),
        ("ours: s per video (median, end to end)", fmt(r["ours_s_per_video"], ".3f"), "target <= 0.8"),
        ("ours: frames/s, videos/min", f"{r['ours_frames_per_s']:.1f}, {r['ours_videos_per_min']:.1f}", ""),
        ("decode only: s per video", fmt(r["decode_only_s_per_video"], ".3f"), "the floor"),
        ("ours / decode only", fmt(r["ours_over_decode_only"]), "target <= 1.5"),
        (f"v1 on the same 32 frames: s per video ({r['v1_32_videos']} videos)", fmt(r["v1_32_s_per_video"]), ""),
        ("v1 32 frames / ours", fmt(r["v1_32_over_ours"], ".1f"), "target >= 2.5"),
        (f"v1 every frame: s per video ({r['v1_all_videos']} videos)", fmt(r["v1_all_s_per_video"]), ""),
        ("v1 every frame / ours", fmt(r["v1_all_over_ours"], ".1f"), "target >= 20"),
        ("face found: ours / Haar", f"{fmt(r['face_found_ours'], '.4f')} / {fmt(r['face_found_haar'], '.4f')}",
         "ours >= Haar, >= 0.98"),
        ("face detection on a 720p frame (ms)", fmt(r["detect_ms_720p"], ".1f"), "target <= 10"),
        ("peak RSS, video inference (GB)", fmt(r["peak_rss_gb_ours"]), "target <= 1.5"),
        ("cold start predict --image (s)", fmt(r["cold_start_predict_image_s"]), "target <= 3"),
    ]
    if r.get("compared_with"):
        rows += [(f"compared: {Path(r['compared_with']).name}, s per video", fmt(r["compared_s_per_video"], ".3f"), ""),
                 ("ours / compared (median of per-video ratios)", fmt(r["ours_over_compared"], ".3f"), "")]
    width = max(len(a) for a, _, _ in rows)
    for a, b, c in rows:
        print(f"{a:<{width}}  {b:>14}  {c}")
    print("\nours, stages in series (median s):",
          ", ".join(f"{k} {v:.3f}" for k, v in r["stages_ours"].items()))
    if r["stages_v1_32"]:
        print("v1 32 frames, stages (median s):", ", ".join(f"{k} {v:.3f}" for k, v in r["stages_v1_32"].items()))


if __name__ == "__main__":
    sys.exit(main())
