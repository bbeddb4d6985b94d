"""What every command shares: the registry ``@command`` fills, and the flags several commands take.

Imports of heavy modules happen inside the handlers so that ``--help`` and quick commands start fast."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ...core.errors import require

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


def add_sampling(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--num-frames", type=int, default=DEFAULT_FRAMES,
                   help=f"frames evenly spaced per video (default {DEFAULT_FRAMES})")
    g.add_argument("--every", type=int, metavar="K", help="every K-th frame instead")


def add_cropping(p: argparse.ArgumentParser) -> None:
    from ...faces.detectors import (
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


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="a .safetensors checkpoint (default: the shipped model)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"],
                   help="auto: ONNX Runtime on the CPU when the checkpoint has a matching .onnx export")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames sampled per video")


def named_sources(pairs: list[str] | None) -> dict[str, list[str]] | None:
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


def deepfake_detector(args: argparse.Namespace, backend: str | None = None):
    from ...inference.detector import Detector

    return Detector.from_checkpoint(args.checkpoint, device=args.device, backend=backend or args.backend,
                                    batch_size=args.batch_size, threshold=args.threshold)

