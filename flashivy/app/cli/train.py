"""Commands that make models: train the face-swap model, add a kind head, run the protocol, fuse a second model
into a checkpoint, export to ONNX."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ...core.errors import ConfigError
from .base import command, named_sources

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
    from ...training.recipe import TrainConfig
    from .flags import add_recipe_flags

    p.add_argument("--config", type=Path, help="a recipe file (configs/*.json); flags override it")
    p.add_argument("--data", action="append", metavar="NAME=PATH",
                   help="face crops: a crop folder with index.csv or v1's {real,fake}/ layout (repeatable)")
    add_recipe_flags(p, TrainConfig, skip=("sources",), help=TRAIN_HELP,
                     aliases={"time_limit_min": ["--time-limit"], "exclude_methods": ["--exclude-method"]},
                     choices={"device": ["auto", "cpu", "cuda"], "keep": ["best", "last"]})


@command("train", "train a model on face crops (v1: train.py)", _train_args, needs=("torch", "timm"))
def cmd_train(args: argparse.Namespace) -> int:
    from ...training.recipe import TrainConfig
    from ...training.train import train
    from .flags import recipe_overrides

    overrides = recipe_overrides(args, TrainConfig) | {"sources": named_sources(args.data)}
    cfg = TrainConfig.from_file(args.config, **overrides) if args.config else TrainConfig(
        **{k: v for k, v in overrides.items() if v is not None})
    report = train(cfg)
    print(json.dumps(report["test"], indent=2))
    return 0


def _train_kind_args(p: argparse.ArgumentParser) -> None:
    from ...training.recipe import KindConfig
    from .flags import add_recipe_flags

    p.add_argument("recipe", type=Path, help="a kind recipe (configs/generated.json)")
    add_recipe_flags(p, KindConfig, aliases={"time_limit_min": ["--time-limit"]})


@command("train-kind", "add a head for another kind of fake (e.g. generated faces) to a model", _train_kind_args,
         needs=("torch", "timm", "sklearn"))
def cmd_train_kind(args: argparse.Namespace) -> int:
    from ...training.recipe import KindConfig
    from ...training.train_kind import train_kind
    from .flags import recipe_overrides

    report = train_kind(KindConfig.from_file(args.recipe, **recipe_overrides(args, KindConfig)))
    print(json.dumps(report["test"], indent=2))
    return 0


def _protocol_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", type=Path, action="append",
                   help="train this recipe once per column (resumes); repeatable")
    p.add_argument("--checkpoint", type=Path, action="append",
                   help="score an existing model on the columns it never saw (no training); repeatable")
    p.add_argument("--splits", type=Path, action="append", default=[],
                   help="with --checkpoint: its run's splits.json (else all groups count); a fused model: each "
                        "run's behind it (repeatable: a group any of them trained on is not scored)")
    p.add_argument("--data", action="append", metavar="NAME=PATH",
                   help="with --checkpoint: crop folders (default ffpp=data/ffpp_faces, dfdc=data/dfdc_faces)")
    p.add_argument("--columns", help="comma-separated: face2face, deepfakes, ffpp_to_dfdc, dfdc_to_ffpp (default all)")
    p.add_argument("--out", default=Path("runs/protocol"), type=Path, help="run folders and results.json per recipe")


@command("protocol", "generalization: leave a method or dataset out of training, test on it", _protocol_args,
         needs=("torch", "timm", "sklearn"))
def cmd_protocol(args: argparse.Namespace) -> int:
    from ...training.protocol import (
        COLUMNS,
        checkpoint_name,
        run_recipe,
        score_checkpoint,
        table,
    )

    columns = args.columns.split(",") if args.columns else list(COLUMNS)
    results = {}
    for recipe in args.recipe or []:
        results[recipe.stem] = run_recipe(recipe, columns, args.out)
    for checkpoint in args.checkpoint or []:
        sources = {k: v[0] for k, v in (named_sources(args.data) or DEFAULT_PROTOCOL_SOURCES).items()}
        results[checkpoint_name(checkpoint)] = score_checkpoint(checkpoint, args.splits, sources, columns, args.out)
    if not results:
        raise ConfigError("give at least one --recipe or --checkpoint")
    print(table(results))
    return 0


DEFAULT_PROTOCOL_SOURCES = {"ffpp": ["data/ffpp_faces"], "dfdc": ["data/dfdc_faces"]}


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, nargs="?", help="a .safetensors checkpoint (default: the shipped model)")
    p.add_argument("-o", "--out", type=Path, help="output .onnx (default: beside the checkpoint)")


@command("export", "export a checkpoint to ONNX for the fast CPU path", _export_args, needs=("torch", "timm", "onnx"))
def cmd_export(args: argparse.Namespace) -> int:
    from ...inference.export import export_onnx

    print(export_onnx(args.checkpoint, args.out))
    return 0


def _fuse_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", type=Path, help="the checkpoint to extend (e.g. the shipped default)")
    p.add_argument("member", type=Path, help="a single model to add as a head of its own (e.g. a self-blending run's)")
    p.add_argument("--data", action="append", metavar="NAME=PATH", required=True,
                   help="crop folders whose validation faces (by --splits) calibrate the member (repeatable)")
    p.add_argument("--splits", type=Path, required=True, help="the member's run's splits.json")
    p.add_argument("--real-sources", default="", help="comma-separated sources whose reals alone count (e.g. ffhq)")
    p.add_argument("--exclude-method", action="append", default=[],
                   help="calibrate without this method's fakes (a protocol column's held-back method; repeatable)")
    p.add_argument("--max-reals-called", type=float, default=0.0,
                   help="lower the member's bias until at most this share of each source's real faces reaches 0.5")
    p.add_argument("--kind", default="blended", help="the new head's kind (default: %(default)s)")
    p.add_argument("--alias", action="append", default=[], metavar="THEIRS=OURS",
                   help="a source a splits file names otherwise than --data does (e.g. ffhq=synthetic; repeatable)")
    p.add_argument("--held-out-of", action="append", default=[], type=Path, metavar="SPLITS",
                   help="record the fused verdict's figures (tested_on) on the faces that neither these runs "
                        "(the base's) nor the member's put in train or val (repeatable)")
    p.add_argument("-o", "--out", type=Path, required=True, help="the fused checkpoint")


@command("fuse", "add a second whole model to a checkpoint as a head of its own, calibrated on validation",
         _fuse_args, needs=("torch", "timm", "sklearn"))
def cmd_fuse(args: argparse.Namespace) -> int:
    from ...datasets.samples import parse_aliases
    from ...training.fuse import calibration_faces, fuse, held_out_faces, record_tests

    sources = {name: paths[0] for name, paths in named_sources(args.data).items()}
    real_sources = tuple(filter(None, args.real_sources.split(",")))
    aliases = parse_aliases(args.alias)
    faces = calibration_faces(sources, args.splits, real_sources, tuple(args.exclude_method), aliases=aliases)
    held_out = (held_out_faces(sources, [args.splits, *args.held_out_of], real_sources, aliases)
                if args.held_out_of else [])  # read before anything is written: a bad splits file stops it here
    calibration = fuse(args.base, args.member, faces, args.out, args.kind, args.max_reals_called)
    print(json.dumps({k: v for k, v in calibration.items() if k != "data"}, indent=2))
    if held_out:
        print(json.dumps({"tested_on": record_tests(args.out, held_out)}, indent=2))
    return 0
