"""One command line, ``flashivy COMMAND``, a subcommand per step; the top-level v1 scripts call into it.

Each command registers itself beside its handler (``base.command``), grouped by what it does: ``data``
(download, frames, crop, faces, blend), ``score`` (predict, evaluate, explain, demo, serve, check-cuda)
and ``train`` (train, train-kind, protocol, export)."""
from __future__ import annotations

import argparse
import sys

from ...core.errors import UserError, install_hint
from ...core.version import __version__
from . import data, score, train  # noqa: F401 - importing them registers their commands
from .base import COMMANDS


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

