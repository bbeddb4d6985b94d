"""Commands that judge and show: predict, evaluate, explain, the demo, the web page, the machine's CUDA."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...core.errors import require
from .base import add_model_args, command, deepfake_detector


def _print_verdict(result) -> None:
    if result.prediction is None:
        print("Prediction : NO FACE")
        return
    print(f"Prediction : {result.prediction}")
    print(f"Confidence : {result.confidence:.4f}")


def _print_notes(result, meta: dict) -> None:
    """Warnings and what the number means go to stderr, after the verdict, so stdout stays v1's."""
    from ...inference.reading import cli_note
    from ...models.kinds import kind_line

    sys.stdout.flush()
    for w in result.warnings:
        print(w, file=sys.stderr)
    if result.prediction is not None:
        if len(result.scores) > 1:
            print(kind_line(result.kind, result.scores), file=sys.stderr)
        print(f"note: {cli_note(meta)}", file=sys.stderr)
    if result.provenance is not None:  # the file's own word on where it came from, beside the model's
        for line in result.provenance["summary"]:
            print(f"provenance: {line}", file=sys.stderr)


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
    add_model_args(p)


@command("predict", "REAL/FAKE verdicts on images and videos", _predict_args)
def cmd_predict(args: argparse.Namespace) -> int:
    if args.input:
        from ...core import distributed
        from ...core.device import resolve_device
        from ...inference.batch import predict_batch

        world = distributed.init("cpu")  # gloo: the ranks only exchange a few small objects
        if world.distributed and resolve_device(args.device).startswith("cuda"):
            args.device = f"cuda:{world.local_rank}"
        try:
            return predict_batch(deepfake_detector(args), args.input, args.json, args.crop, args.frames, world,
                                 args.timeout)
        finally:
            distributed.shutdown()
    detector = deepfake_detector(args)
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
    p.add_argument("--alias", action="append", default=[], metavar="THEIRS=OURS",
                   help="a splits file names the source otherwise (e.g. ffhq=synthetic); repeatable")
    p.add_argument("--perturb", metavar="SPEC",
                   help="also evaluate under perturbations: all, or e.g. jpeg=50,downscale=2,blur,noise "
                        "(jpeg 90/70/50/30, blur 1/2/3, downscale 2/4, noise 5/10/20); robustness.png")
    p.add_argument("--images", action="store_true",
                   help="the files are whole photos: find and crop their faces first (as predict does)")
    p.set_defaults(threshold=None)
    add_model_args(p)


@command("evaluate", "metrics on face crops, whole photos or a labelled video root", _evaluate_args,
         needs=("sklearn", "matplotlib"))
def cmd_evaluate(args: argparse.Namespace) -> int:
    from ...datasets.samples import parse_aliases
    from ...evaluation.evaluate import evaluate

    report = evaluate(args.data, checkpoint=args.checkpoint, out=args.out, source=args.source,
                      exclude_splits=args.exclude, num_frames=args.frames, device=args.device,
                      batch_size=args.batch_size, backend=args.backend, perturb=args.perturb, images=args.images,
                      aliases=parse_aliases(args.alias))
    print(json.dumps(report, indent=2))
    if "robustness" in report:
        print(robustness_table(report["robustness"]))
    print(f"wrote {args.out}/report.json and {args.out}/roc.png", file=sys.stderr)
    return 0


def robustness_table(rows: dict) -> str:
    lines = [f"{'perturbation':<16}{'frame AUC':>10}{'video AUC':>10}"]
    for name, r in rows.items():
        video = r.get("video_auc")
        lines.append(f"{name:<16}{r['frame_auc']:>10.4f}{'' if video is None else format(video, '.4f'):>10}")
    return "\n".join(lines)


def _explain_args(p: argparse.ArgumentParser) -> None:
    from ...explain.heatmaps import CAM_METHODS

    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", type=Path)
    what.add_argument("--video", type=Path)
    p.add_argument("--out", default="explain", type=Path, help="output folder (default explain/)")
    p.add_argument("--method", default="gradcam", choices=CAM_METHODS)
    p.add_argument("--crop", default="auto", choices=["auto", "detect", "none"])
    p.add_argument("--mp4", action="store_true", help="with --video: also an annotated MP4, boxes coloured by score")
    p.set_defaults(threshold=None)
    add_model_args(p)


@command("explain", "heatmaps: image overlays; video contact sheet, per-frame plot, MP4", _explain_args)
def cmd_explain(args: argparse.Namespace) -> int:
    from ...explain.heatmaps import explain_image, explain_video

    require(*(() if args.image else ("matplotlib",)), *(() if args.method == "gradcam" else ("torch",)))
    detector = deepfake_detector(args)  # Grad-CAM comes with the ONNX export; other CAMs load torch
    if args.image:
        written = [explain_image(detector, args.image, args.out, args.method, args.crop)[1]]
    else:
        written = explain_video(detector, args.video, args.out, args.frames, args.method, args.mp4)[1]
    for path in written:
        print(path)
    return 0


@command("demo", "the shipped model on a bundled public-domain face (image and video)")
def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    return run_demo()


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
    from ..web import Limits, serve

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use the page",
              file=sys.stderr)
    serve(args.host, args.port, args.checkpoint, Limits(args.max_upload_mb, args.max_video_seconds),
          args.queue_size)
    return 0


@command("check-cuda", "torch, CUDA and GPU details", needs=("torch",))
def cmd_check_cuda(args: argparse.Namespace) -> int:
    from ...core.device import cuda_report

    print(cuda_report())
    return 0

