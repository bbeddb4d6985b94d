"""One command line, a subcommand per step. The top-level v1 scripts call into it.

Imports of heavy modules happen inside the handlers so that ``--help`` and
quick commands start fast.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

from . import __version__
from .errors import UserError, install_hint, require

DEFAULT_FRAMES = 32

# name -> (help, arguments(parser), handler(args)): each command registers itself beside its handler.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None,
            needs: tuple[str, ...] = ()):
    """Register the decorated handler as ``flashivy NAME``, with the function that adds its arguments and the
    modules beyond the core install it needs (checked before it starts: one line naming the extra)."""
    def register(handler):
        def checked(args):
            require(*needs)
            return handler(args)

        COMMANDS[name] = (help, arguments, checked if needs else handler)
        return handler
    return register


def _add_sampling(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--num-frames", type=int, default=DEFAULT_FRAMES,
                   help=f"frames evenly spaced per video (default {DEFAULT_FRAMES})")
    g.add_argument("--every", type=int, metavar="K", help="every K-th frame instead")


def _add_cropping(p: argparse.ArgumentParser) -> None:
    from .faces import (
        DEFAULT_CROP_SIZE,
        DEFAULT_DETECTOR,
        DEFAULT_MARGIN,
        list_detectors,
    )

    p.add_argument("--detector", default=DEFAULT_DETECTOR, choices=list_detectors(),
                   help=f"face detector (default {DEFAULT_DETECTOR})")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                   help=f"crop side as a multiple of the face box (default {DEFAULT_MARGIN})")
    p.add_argument("--size", type=int, default=DEFAULT_CROP_SIZE,
                   help=f"crop size in pixels (default {DEFAULT_CROP_SIZE})")
    p.add_argument("--all-faces", action="store_true", help="crop every face, not only the largest")


def _download_args(p: argparse.ArgumentParser) -> None:
    from .download import ALL_DATASETS, COMPRESSION, DATASETS, SERVERS, TYPE

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
    from .download import SERVERS, download

    server = args.server_url or SERVERS[args.server]
    fetched = download(args.output_path, args.dataset, args.compression, args.type, args.num_videos,
                       server, accept_tos=args.accept_tos)
    print(f"done: {fetched} file(s) downloaded to {args.output_path}", file=sys.stderr)
    return 0


def _frames_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="?", default="ff_data", type=Path, help="video folder or file (default ff_data)")
    p.add_argument("-o", "--out", default="data/frames", type=Path, help="output folder (default data/frames)")
    _add_sampling(p)


@command("frames", "extract sampled frames from videos (v1: extract_frames.py)", _frames_args)
def cmd_frames(args: argparse.Namespace) -> int:
    from .crops import extract_frames

    written = extract_frames(args.videos, args.out, args.num_frames if args.every is None else None, args.every)
    print(f"done: frames of {written} new video(s) in {args.out}", file=sys.stderr)
    return 0


def _crop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("frames", nargs="?", default="data/frames", type=Path, help="frames folder (default data/frames)")
    p.add_argument("-o", "--out", default="data/faces", type=Path, help="output folder (default data/faces)")
    _add_cropping(p)


@command("crop", "extracted frames to face crops + index (v1: crop_faces.py)", _crop_args)
def cmd_crop(args: argparse.Namespace) -> int:
    from .crops import crop_frames
    from .faces import create_detector

    crop_frames(args.frames, args.out, create_detector(args.detector), args.margin, args.size, args.all_faces)
    return 0


def _faces_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", type=Path, help="video folder or file")
    p.add_argument("-o", "--out", default="data/faces", type=Path, help="output folder (default data/faces)")
    _add_sampling(p)
    _add_cropping(p)


@command("faces", "videos straight to face crops + index, no frame dump", _faces_args)
def cmd_faces(args: argparse.Namespace) -> int:
    from .crops import stream_crops
    from .faces import create_detector

    stream_crops(args.videos, args.out, create_detector(args.detector),
                 args.num_frames if args.every is None else None, args.every,
                 args.margin, args.size, args.all_faces)
    return 0


def _sources(pairs: list[str] | None) -> dict[str, list[str]] | None:
    """``NAME=PATH`` flags to ``{name: [paths]}``; a repeated name gathers several folders into one source."""
    if not pairs:
        return None
    out: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep:
            name, path = Path(pair).name, pair
        out.setdefault(name, []).append(path)
    return out


TRAIN_HELP = {
    "model": "architecture (flashivy models: baseline, mobilenetv2, efficientnet_lite0)",
    "out": "run folder: checkpoints, log.csv, curves.png, report.json",
    "workers": "data loader processes",
    "time_limit_min": "start no epoch past this many minutes",
    "self_blend": "turn real crops into self-blended pseudo-fakes with this probability (needs landmarks)",
    "reals_only": "train without fake crops (pseudo-fakes only); val and test still use them",
    "official_splits": "split source NAME by FF++'s official DIR/{train,val,test}.json instead of by hash",
    "init": "fine-tune: start from this checkpoint instead of ImageNet weights",
    "splits": "keep the train/val/test groups of a previous run's splits.json; split only new groups",
    "freeze": "leave parameters whose name starts with PREFIX untrained, e.g. blocks.0 (repeatable)",
    "exclude_methods": "leave a manipulation method (e.g. Face2Face) out of training and validation (repeatable)",
    "keep": "best: the epoch with the best validation AUC; last: the last epoch (a fixed budget)",
}


def _train_args(p: argparse.ArgumentParser) -> None:
    from .flags import add_recipe_flags
    from .recipe import TrainConfig

    p.add_argument("--config", type=Path, help="a recipe file (configs/*.json); flags override it")
    p.add_argument("--data", action="append", metavar="NAME=PATH",
                   help="face crops: a crop folder with index.csv or v1's {real,fake}/ layout (repeatable)")
    add_recipe_flags(p, TrainConfig, skip=("sources",), help=TRAIN_HELP,
                     aliases={"time_limit_min": ["--time-limit"], "exclude_methods": ["--exclude-method"]},
                     choices={"device": ["auto", "cpu", "cuda"], "keep": ["best", "last"]})


@command("train", "train a model on face crops (v1: train.py)", _train_args, needs=("torch", "timm"))
def cmd_train(args: argparse.Namespace) -> int:
    from .flags import recipe_overrides
    from .recipe import TrainConfig
    from .train import train

    overrides = recipe_overrides(args, TrainConfig) | {"sources": _sources(args.data)}
    cfg = TrainConfig.from_file(args.config, **overrides) if args.config else TrainConfig(
        **{k: v for k, v in overrides.items() if v is not None})
    report = train(cfg)
    print(json.dumps(report["test"], indent=2))
    return 0


def _deepfake_detector(args: argparse.Namespace, backend: str | None = None):
    from .detector import Detector

    return Detector.from_checkpoint(args.checkpoint, device=args.device, backend=backend or args.backend,
                                    batch_size=args.batch_size, threshold=args.threshold)


def _print_verdict(result) -> None:
    if result.prediction is None:
        print("Prediction : NO FACE")
        return
    print(f"Prediction : {result.prediction}")
    print(f"Confidence : {result.confidence:.4f}")


def _print_notes(result, meta: dict) -> None:
    """Warnings and what the number means go to stderr, after the verdict, so stdout stays v1's."""
    from .kinds import kind_line
    from .reading import cli_note

    sys.stdout.flush()
    for w in result.warnings:
        print(w, file=sys.stderr)
    if result.prediction is not None:
        if len(result.scores) > 1:
            print(kind_line(result.kind, result.scores), file=sys.stderr)
        print(f"note: {cli_note(meta)}", file=sys.stderr)


def _train_kind_args(p: argparse.ArgumentParser) -> None:
    from .flags import add_recipe_flags
    from .recipe import KindConfig

    p.add_argument("recipe", type=Path, help="a kind recipe (configs/generated.json)")
    add_recipe_flags(p, KindConfig, aliases={"time_limit_min": ["--time-limit"]})


@command("train-kind", "add a head for another kind of fake (e.g. generated faces) to a model", _train_kind_args,
         needs=("torch", "timm", "sklearn"))
def cmd_train_kind(args: argparse.Namespace) -> int:
    from .flags import recipe_overrides
    from .recipe import KindConfig
    from .train_kind import train_kind

    report = train_kind(KindConfig.from_file(args.recipe, **recipe_overrides(args, KindConfig)))
    print(json.dumps(report["test"], indent=2))
    return 0


def _predict_args(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", type=Path, help="one image: prints Prediction / Confidence")
    what.add_argument("--video", type=Path, help="one video: verdict per person and for the video")
    what.add_argument("--input", nargs="+", type=Path, help="files and folders (recursive), JSON Lines out")
    p.add_argument("--json", default="-", help="with --input: JSON Lines file, '-' for stdout (default)")
    p.add_argument("--timeout", type=float, default=300, metavar="S",
                   help="with --input: give up on a file after S seconds and record the error (default 300)")
    p.add_argument("--crop", default="auto", choices=["auto", "detect", "none"],
                   help="detect faces (detect), take the image as a face (none), or detect with fallback (auto)")
    p.add_argument("--threshold", type=float, help="fake-probability threshold (default: the checkpoint's)")
    _add_model_args(p)


@command("predict", "REAL/FAKE verdicts on images and videos", _predict_args)
def cmd_predict(args: argparse.Namespace) -> int:
    if args.input:
        from . import distributed
        from .batch import predict_batch
        from .runtime import resolve_device

        world = distributed.init("cpu")  # gloo: the ranks only exchange a few small objects
        if world.distributed and resolve_device(args.device).startswith("cuda"):
            args.device = f"cuda:{world.local_rank}"
        try:
            return predict_batch(_deepfake_detector(args), args.input, args.json, args.crop, args.frames, world,
                                 args.timeout)
        finally:
            distributed.shutdown()
    detector = _deepfake_detector(args)
    if args.image:
        result = detector.predict_image(args.image, crop=args.crop)
        _print_verdict(result)
        _print_notes(result, detector.meta)
        return 0
    result = detector.predict_video(args.video, args.frames)
    _print_verdict(result)
    print(f"Faces      : {len(result.faces)} in {result.frames} sampled frames, {len(result.persons)} person(s)")
    for person in result.persons:
        print(f"  person {person.person}: {person.prediction} (fake probability {person.fake_probability:.4f}, "
              f"{person.faces} faces)")
    _print_notes(result, detector.meta)
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="crop folder (index.csv or real/ fake/) or video root (FF++ layout)")
    p.add_argument("--out", default="runs/eval", type=Path, help="report.json and roc.png go here")
    p.add_argument("--source", help="data source name used in a run's splits.json (default: folder name)")
    p.add_argument("--exclude", type=Path, metavar="SPLITS_JSON", action="append",
                   help="drop the groups a training run used (its splits.json train and val); repeatable")
    p.add_argument("--perturb", metavar="SPEC",
                   help="also evaluate under perturbations: all, or e.g. jpeg=50,downscale=2,blur,noise "
                        "(jpeg 90/70/50/30, blur 1/2/3, downscale 2/4, noise 5/10/20); robustness.png")
    p.add_argument("--images", action="store_true",
                   help="the files are whole photos: find and crop their faces first (as predict does)")
    p.set_defaults(threshold=None)
    _add_model_args(p)


@command("evaluate", "metrics on face crops, whole photos or a labelled video root", _evaluate_args,
         needs=("sklearn", "matplotlib"))
def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate

    report = evaluate(args.data, args.checkpoint, args.out, args.source, args.exclude, args.frames, args.device,
                      args.batch_size, args.backend, args.perturb, args.images)
    print(json.dumps(report, indent=2))
    if "robustness" in report:
        print(robustness_table(report["robustness"]))
    print(f"wrote {args.out}/report.json and {args.out}/roc.png", file=sys.stderr)
    return 0


def _protocol_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", type=Path, action="append",
                   help="train this recipe once per column (resumes); repeatable")
    p.add_argument("--checkpoint", type=Path, action="append",
                   help="score an existing model on the columns it never saw (no training); repeatable")
    p.add_argument("--splits", type=Path, help="with --checkpoint: its run's splits.json (else all groups count)")
    p.add_argument("--data", action="append", metavar="NAME=PATH",
                   help="with --checkpoint: crop folders (default ffpp=data/ffpp_faces, dfdc=data/dfdc_faces)")
    p.add_argument("--columns", help="comma-separated: face2face, deepfakes, ffpp_to_dfdc, dfdc_to_ffpp (default all)")
    p.add_argument("--out", default=Path("runs/protocol"), type=Path, help="run folders and results.json per recipe")


@command("protocol", "generalization: leave a method or dataset out of training, test on it", _protocol_args,
         needs=("torch", "timm", "sklearn"))
def cmd_protocol(args: argparse.Namespace) -> int:
    from .protocol import COLUMNS, checkpoint_name, run_recipe, score_checkpoint, table

    columns = args.columns.split(",") if args.columns else list(COLUMNS)
    results = {}
    for recipe in args.recipe or []:
        results[recipe.stem] = run_recipe(recipe, columns, args.out)
    for checkpoint in args.checkpoint or []:
        sources = {k: v[0] for k, v in (_sources(args.data) or DEFAULT_PROTOCOL_SOURCES).items()}
        results[checkpoint_name(checkpoint)] = score_checkpoint(checkpoint, args.splits, sources, columns, args.out)
    if not results:
        raise UserError("give at least one --recipe or --checkpoint")
    print(table(results))
    return 0


DEFAULT_PROTOCOL_SOURCES = {"ffpp": ["data/ffpp_faces"], "dfdc": ["data/dfdc_faces"]}


def robustness_table(rows: dict) -> str:
    lines = [f"{'perturbation':<16}{'frame AUC':>10}{'video AUC':>10}"]
    for name, r in rows.items():
        video = r.get("video_auc")
        lines.append(f"{name:<16}{r['frame_auc']:>10.4f}{'' if video is None else format(video, '.4f'):>10}")
    return "\n".join(lines)


def _explain_args(p: argparse.ArgumentParser) -> None:
    from .explain import CAM_METHODS

    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", type=Path)
    what.add_argument("--video", type=Path)
    p.add_argument("--out", default="explain", type=Path, help="output folder (default explain/)")
    p.add_argument("--method", default="gradcam", choices=CAM_METHODS)
    p.add_argument("--crop", default="auto", choices=["auto", "detect", "none"])
    p.add_argument("--mp4", action="store_true", help="with --video: also an annotated MP4, boxes coloured by score")
    p.set_defaults(threshold=None)
    _add_model_args(p)


@command("explain", "heatmaps: image overlays; video contact sheet, per-frame plot, MP4", _explain_args)
def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain_image, explain_video

    require(*(() if args.image else ("matplotlib",)), *(() if args.method == "gradcam" else ("torch",)))
    detector = _deepfake_detector(args)  # Grad-CAM comes with the ONNX export; other CAMs load torch
    if args.image:
        written = [explain_image(detector, args.image, args.out, args.method, args.crop)[1]]
    else:
        written = explain_video(detector, args.video, args.out, args.frames, args.method, args.mp4)[1]
    for path in written:
        print(path)
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="a .safetensors checkpoint (default: the shipped model)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"],
                   help="auto: ONNX Runtime on the CPU when the checkpoint has a matching .onnx export")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames sampled per video")


@command("demo", "the shipped model on a bundled public-domain face (image and video)")
def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo()


def _blend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("crops", type=Path, help="a crop folder (index.csv or real/ fake/)")
    p.add_argument("--landmarks", action="store_true", help="compute FaceMesh landmarks once: CROPS/landmarks.npz")
    p.add_argument("--sheet", type=Path, help="write a PNG of real / self-blended / mask triples")
    p.add_argument("-n", type=int, default=6, help="triples on the sheet")
    p.add_argument("--seed", type=int, default=0)


@command("blend", "self-blended pseudo-fakes: cache landmarks, draw a real/fake/mask sheet", _blend_args,
         needs=("mediapipe",))
def cmd_blend(args: argparse.Namespace) -> int:
    from .blend import blend_sheet, compute_landmarks
    from .data import load_source

    reals = [s.path for s in load_source(args.crops) if s.label == 0]
    if not reals:
        raise UserError(f"{args.crops}: no real face crops to blend")
    if args.landmarks:
        print(compute_landmarks(reals, args.crops))
    if args.sheet:
        step = max(1, len(reals) // (4 * args.n))  # spread over videos, not one video's frames
        print(blend_sheet(reals[::step], args.sheet, args.n, args.seed))
    return 0


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--checkpoint", type=Path, help="a .safetensors checkpoint (default: the shipped model)")
    p.add_argument("--max-upload-mb", type=float, default=100.0)
    p.add_argument("--max-video-seconds", type=float, default=120.0)
    p.add_argument("--queue-size", type=int, default=16,
                   help="uploads waiting for the one analysis slot; beyond this they are turned away")


@command("serve", "the web demo (Gradio) on http://127.0.0.1:7860", _serve_args, needs=("gradio",))
def cmd_serve(args: argparse.Namespace) -> int:
    from .web import Limits, serve

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use the page",
              file=sys.stderr)
    serve(args.host, args.port, args.checkpoint, Limits(args.max_upload_mb, args.max_video_seconds),
          args.queue_size)
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, nargs="?", help="a .safetensors checkpoint (default: the shipped model)")
    p.add_argument("-o", "--out", type=Path, help="output .onnx (default: beside the checkpoint)")


@command("export", "export a checkpoint to ONNX for the fast CPU path", _export_args, needs=("torch", "timm", "onnx"))
def cmd_export(args: argparse.Namespace) -> int:
    from .runtime import export_onnx

    print(export_onnx(args.checkpoint, args.out))
    return 0


@command("check-cuda", "torch, CUDA and GPU details", needs=("torch",))
def cmd_check_cuda(args: argparse.Namespace) -> int:
    from .system import cuda_report

    print(cuda_report())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flashivy", description="Deepfake detection for face images and videos.")
    parser.add_argument("--version", action="version", version=f"flashivy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help, arguments, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help)
        arguments(p)
        p.set_defaults(func=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:  # a light install without the extra this command needs
        message = install_hint(exc.name)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run(command: str) -> None:
    """Entry point of the top-level v1 scripts: ``python crop_faces.py ARGS`` == ``flashivy crop ARGS``."""
    sys.exit(main([command, *sys.argv[1:]]))
