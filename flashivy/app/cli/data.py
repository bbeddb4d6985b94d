"""Commands that make data: download FF++, frames and face crops from videos, self-blending's landmarks."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ...core.errors import InputError
from .base import add_cropping, add_sampling, command


def _download_args(p: argparse.ArgumentParser) -> None:
    from ...datasets.download import ALL_DATASETS, COMPRESSION, DATASETS, SERVERS, TYPE

    p.add_argument("output_path", type=Path, help="output folder")
    p.add_argument("-d", "--dataset", default="all", choices=list(DATASETS) + ["all"],
                   help=f"which dataset; 'all' is {', '.join(ALL_DATASETS)}")
    p.add_argument("-c", "--compression", default="raw", choices=COMPRESSION)
    p.add_argument("-t", "--type", default="videos", choices=TYPE)
    p.add_argument("-n", "--num_videos", type=int, default=None, help="keep the first N videos")
    p.add_argument("--server", default="EU", choices=list(SERVERS))
    p.add_argument("--server-url", help="any server or mirror with the same layout (overrides --server)")
    p.add_argument("--accept-tos", action="store_true", help="accept the terms of use without asking")


@command("download", "download FaceForensics++ (official interface)", _download_args, needs=("requests",))
def cmd_download(args: argparse.Namespace) -> int:
    from ...datasets.download import SERVERS, download

    server = args.server_url or SERVERS[args.server]
    fetched = download(args.output_path, args.dataset, args.compression, args.type, args.num_videos,
                       server, accept_tos=args.accept_tos)
    print(f"done: {fetched} file(s) downloaded to {args.output_path}", file=sys.stderr)
    return 0


def _frames_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="?", default="ff_data", type=Path, help="video folder or file (default ff_data)")
    p.add_argument("-o", "--out", default="data/frames", type=Path, help="output folder (default data/frames)")
    add_sampling(p)


@command("frames", "extract sampled frames from videos (v1: extract_frames.py)", _frames_args)
def cmd_frames(args: argparse.Namespace) -> int:
    from ...datasets.crops import extract_frames

    written = extract_frames(args.videos, args.out, args.num_frames if args.every is None else None, args.every)
    print(f"done: frames of {written} new video(s) in {args.out}", file=sys.stderr)
    return 0


def _crop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("frames", nargs="?", default="data/frames", type=Path, help="frames folder (default data/frames)")
    p.add_argument("-o", "--out", default="data/faces", type=Path, help="output folder (default data/faces)")
    add_cropping(p)


@command("crop", "extracted frames to face crops + index (v1: crop_faces.py)", _crop_args)
def cmd_crop(args: argparse.Namespace) -> int:
    from ...datasets.crops import crop_frames
    from ...faces.detectors import create_detector

    crop_frames(args.frames, args.out, create_detector(args.detector), args.margin, args.size, args.all_faces)
    return 0


def _faces_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", type=Path, help="video folder or file")
    p.add_argument("-o", "--out", default="data/faces", type=Path, help="output folder (default data/faces)")
    add_sampling(p)
    add_cropping(p)


@command("faces", "videos straight to face crops + index, no frame dump", _faces_args)
def cmd_faces(args: argparse.Namespace) -> int:
    from ...datasets.crops import stream_crops
    from ...faces.detectors import create_detector

    stream_crops(args.videos, args.out, create_detector(args.detector),
                 args.num_frames if args.every is None else None, args.every,
                 args.margin, args.size, args.all_faces)
    return 0


def _blend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("crops", type=Path, help="a crop folder (index.csv or real/ fake/)")
    p.add_argument("--landmarks", action="store_true", help="compute FaceMesh landmarks once: CROPS/landmarks.npz")
    p.add_argument("--sheet", type=Path, help="write a PNG of real / self-blended / mask triples")
    p.add_argument("-n", type=int, default=6, help="triples on the sheet")
    p.add_argument("--seed", type=int, default=0)


@command("blend", "self-blended pseudo-fakes: cache landmarks, draw a real/fake/mask sheet", _blend_args,
         needs=("mediapipe",))
def cmd_blend(args: argparse.Namespace) -> int:
    from ...datasets.samples import load_source
    from ...training.blend import blend_sheet, compute_landmarks

    reals = [s.path for s in load_source(args.crops) if s.label == 0]
    if not reals:
        raise InputError(f"{args.crops}: no real face crops to blend")
    if args.landmarks:
        print(compute_landmarks(reals, args.crops))
    if args.sheet:
        step = max(1, len(reals) // (4 * args.n))  # spread over videos, not one video's frames
        print(blend_sheet(reals[::step], args.sheet, args.n, args.seed))
    return 0

