"""Train a head for another kind of fake (e.g. fully generated faces) on a frozen detector's trunk.

Data: ``kind_sources`` hold crops whose ``fake`` label means "of this kind"
(e.g. StyleGAN faces) and whose ``real`` label means camera photos (FFHQ);
``other_sources`` hold faces that are *not* of this kind (the face-swap data,
real and swapped alike), so the new head learns to stay quiet on them. The
other sources keep the split of the detector they extend (``base_splits``):
its held-out faces stay held out here too.

Only the branch trains; the face-swap head and the trunk are untouched, so the
detector's face-swap scores do not change. Best epoch by validation AUC on
the kind's own data; calibration (temperature and bias) on validation; the
held-out test split is reported, clean and under JPEG 70 and a 1/2 downscale.
"""
from __future__ import annotations

import itertools
import json
import math
import sys
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.atomic import write_text_atomic
from ..core.errors import ConfigError, InputError, require_file
from ..core.paths import sha256
from ..datasets.crops import crop_framing
from ..datasets.samples import Sample, cap_per_source, describe, load_source
from ..evaluation.metrics import binary_report, expected_calibration_error, plot_roc
from ..media.images import gaussian_blur, jpeg, load_image, rescale
from ..models.branches import KindHeads, face_swap_part
from ..models.calibration import calibrated_probs, capped_bias, fit_calibration
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.kinds import heads_of, kinds_of
from ..models.preprocess import normalise
from .dataset import FaceDataset
from .loop import Run, start
from .recipe import KindConfig

# What sharing does to an image, applied to the held-out test crops for the report.
TEST_CONDITIONS = {"clean": None, "jpeg70": lambda im: jpeg(im, 70), "half_scale": lambda im: rescale(im, 0.5),
                   "blur1": lambda im: gaussian_blur(im, 1.0)}


def _left_out(s: Sample, cfg: KindConfig) -> bool:
    """A fake made by a generator the recipe leaves out of training and validation."""
    return s.label == 1 and s.method in cfg.unseen_methods


def kind_splits(cfg: KindConfig) -> dict[str, list[Sample]]:
    """Train / val / test: the kind's data split by image group, the other data by the base's splits."""
    from .train import TrainConfig, three_way_split

    if not cfg.kind_sources:
        raise ConfigError("no data of this kind: give kind_sources in the recipe")
    kind = [s for name, path in sorted(cfg.kind_sources.items()) for s in load_source(path, name)]
    others = [replace(s, label=0) for name, path in sorted(cfg.other_sources.items())
              for s in load_source(path, name)]
    split_cfg = TrainConfig(splits=cfg.base_splits, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
                            seed=cfg.seed)
    parts = [three_way_split(kind, replace(split_cfg, splits="")), three_way_split(others, split_cfg)]
    out = {name: parts[0][i] + parts[1][i] for i, name in enumerate(("train", "val", "test"))}
    if unknown := sorted(set(cfg.unseen_methods) - {s.method for s in kind if s.label == 1}):
        raise ConfigError(f"unseen_methods: no fake of the kind's data is made by {unknown}")
    # Leave-generator-out: never trained on nor chosen by; test holds every image of it (the point of the run).
    unseen = [s for name in ("train", "val") for s in out[name] if _left_out(s, cfg)]
    for name in ("train", "val"):
        out[name] = [s for s in out[name] if not _left_out(s, cfg)]
    out["test"] += unseen
    return out


def epoch_weights(samples: list[Sample], kind_names: set[str], kind_share: float) -> np.ndarray:
    """Balanced over (source, label) cells within each side, a cell of the kind's fakes split evenly between
    its generators (SD 2.1 and FLUX share one folder); ``kind_share`` of the draw from the kind's data."""
    mine = np.array([s.source in kind_names for s in samples])
    keys = [(s.source, s.label, s.method if m else "") for s, m in zip(samples, mine)]
    cells = Counter(keys)
    methods = Counter((source, label) for source, label, _ in cells)  # generators in each (source, label) cell
    weights = np.array([1.0 / (cells[k] * methods[k[:2]]) for k in keys])
    for side, share in ((mine, kind_share), (~mine, 1 - kind_share)):
        if side.any():
            weights[side] *= share / weights[side].sum()
    return weights


@torch.inference_mode()
def branch_logits(model: KindHeads, kind: str, samples: list[Sample], meta: dict, batch_size: int,
                  transform=None, desc: str = "") -> np.ndarray:
    """Logits of one kind's head for face crops (optionally transformed first); ``desc``: a progress bar."""
    import cv2
    from tqdm import tqdm

    model.eval()
    index = model.kinds.index(kind)
    out = []
    for i in tqdm(range(0, len(samples), batch_size), desc=desc, file=sys.stderr, dynamic_ncols=True,
                  disable=not desc):
        imgs = []
        for s in samples[i:i + batch_size]:
            img = load_image(s.path)
            img = transform(img) if transform else img
            imgs.append(cv2.resize(img, (meta["input_size"],) * 2, interpolation=cv2.INTER_AREA))
        x = torch.from_numpy(normalise(imgs, meta["mean"], meta["std"])).contiguous(memory_format=torch.channels_last)
        out.append(model(x)[:, index].float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _report(samples: list[Sample], probs: np.ndarray) -> dict:
    """Per source: AUC etc. where both labels occur; on the other data, the share called this kind."""
    report = {}
    for source in sorted({s.source for s in samples}):
        idx = [i for i, s in enumerate(samples) if s.source == source]
        labels = np.array([samples[i].label for i in idx])
        report[source] = binary_report(labels, probs[idx])
        report[source]["called_this_kind"] = float((probs[idx] >= 0.5).mean())
    return report


class KindRun(Run):
    """A kind head's run: the branch alone learns, on the frozen trunk's features; best by validation AUC of
    this kind against every other face."""

    def __init__(self, cfg: KindConfig, model: KindHeads, meta: dict, parts: dict[str, list[Sample]]):
        from torch.utils.data import DataLoader, WeightedRandomSampler

        steps = cfg.samples_per_epoch // cfg.batch_size
        super().__init__(cfg.out, cfg.epochs, steps, cfg.batch_size, cfg.time_limit_min)
        self.cfg, self.model, self.meta, self.parts = cfg, model, meta, parts
        self.trainee = model.branches[cfg.kind]
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(f"branches.{cfg.kind}."))
        model.eval()
        self.train_ds = FaceDataset(parts["train"], meta["input_size"], meta["mean"], meta["std"], train=True,
                                    seed=cfg.seed)
        weights = epoch_weights(parts["train"], set(cfg.kind_sources), cfg.kind_share)
        self.sampler = WeightedRandomSampler(weights, steps * cfg.batch_size,
                                             generator=torch.Generator().manual_seed(cfg.seed))
        self.loader = DataLoader(self.train_ds, batch_size=cfg.batch_size, sampler=self.sampler,
                                 num_workers=cfg.workers, drop_last=True)
        self.optimizer = torch.optim.AdamW(self.trainee.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total = steps * cfg.epochs
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))
        self.val = cap_per_source(parts["val"], cfg.max_val_per_source, cfg.seed, whole_groups=False)
        self.loss_fn = nn.BCEWithLogitsLoss()

    def train_mode(self) -> None:
        self.trainee.train()  # the rest of the model stays in eval mode: frozen, statistics included

    def batches(self, epoch: int, skip: int = 0):
        self.train_ds.epoch = epoch
        self.sampler.generator.manual_seed(self.cfg.seed * 1000 + epoch)
        # the same draw from where a killed run stopped (the skipped batches are drawn, not trained on)
        return itertools.islice(self.loader, skip, None)

    def step(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        x, y, _ = batch
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            h = self.model.trunk(x)  # frozen: no activations kept for backward
        return self.loss_fn(self.trainee(h).float().squeeze(1), y.float()), {}

    def validate(self) -> tuple[dict, dict]:
        row = _kind_validation(self.model, self.cfg, self.val, self.meta)
        return {}, {"val_score": row["val_auc"], **row}

    def save_best(self, report: dict) -> None:
        save_checkpoint(self.best_path, self.model, _metadata(self.meta, self.cfg, self.parts))


def train_kind(cfg: KindConfig) -> dict:
    """Run a kind recipe end to end; resumable from ``out/last.pt``; returns the final report."""
    start(cfg.seed, "cpu", cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    base, meta = load_checkpoint(cfg.base)
    if others := [k for k in kinds_of(meta)[1:] if k != cfg.kind]:
        raise ConfigError(f"{cfg.base}: has heads of other kinds too ({', '.join(others)}); extend the face-swap "
                          "checkpoint it was built on")
    base, meta = face_swap_part(base, meta)  # a head of this kind already there is replaced, the rest kept
    framing = crop_framing([*cfg.kind_sources.values(), *cfg.other_sources.values()])
    if framing and (framing["detector"], framing["margin"]) != (meta["crop"]["detector"], meta["crop"]["margin"]):
        raise InputError(f"the crops were cut with {framing}, the model with {meta['crop']}: re-cut them the "
                         "model's way, or the new head would learn the framing")
    parts = kind_splits(cfg)
    # read before training, so a wrong report path fails now; a run holding a generator out is itself such a figure
    leave_one_out = {} if cfg.unseen_methods else leave_one_out_figures(cfg.leave_one_out)
    # Each group where its split put it: a generator left out is in test by its method, not its group (a person
    # whose photos trained must not read as held out), so its fakes list no group of their own.
    write_text_atomic(out / "splits.json", json.dumps(
        {name: sorted({f"{s.source}:{s.group}" for s in part if not _left_out(s, cfg)})
         for name, part in parts.items()}))
    model = KindHeads(base, cfg.branch_at, [cfg.kind]).to(memory_format=torch.channels_last)
    if cfg.init:
        model.branches[cfg.kind].load_state_dict(trained_branch(cfg.init, model, cfg.kind).state_dict())
    run = KindRun(cfg, model, meta, parts)
    run.fit(from_starting_point=bool(cfg.init))  # a carried-over head is kept unless training beats it
    return finalize_kind(cfg, run.best_path, run.val, parts["test"], leave_one_out)


def _kind_validation(model: KindHeads, cfg: KindConfig, val: list[Sample], meta: dict) -> dict:
    """The log columns of one validation; ``val_auc`` decides "best"."""
    kind_names = set(cfg.kind_sources)
    probs = calibrated_probs(branch_logits(model, cfg.kind, val, meta, cfg.batch_size * 2))
    report = _report(val, probs)
    # Best = this kind against every other face of validation (its own source's photos and the other
    # sources' faces alike), so an epoch that starts calling real video faces "generated" loses.
    return {"val_auc": binary_report([s.label for s in val], probs)["auc"],
            **{f"val_auc_{k}": report[k]["auc"] for k in kind_names},
            **{f"val_called_{k}": v["called_this_kind"] for k, v in report.items() if k not in kind_names}}


def trained_branch(path: str, model: KindHeads, kind: str) -> nn.Module:
    """The ``kind`` branch of the checkpoint at ``path``, checked to sit on the same trunk as ``model``'s:
    a branch learnt on other trunk features would score garbage."""
    other, _ = load_checkpoint(path)
    if kind not in getattr(other, "branches", {}) or other.branch_at != model.branch_at:
        raise ConfigError(f"{path}: has no {kind} head branching at block {model.branch_at}")
    ours, theirs = model.trunk_state(), other.trunk_state()
    if ours.keys() != theirs.keys() or any(not torch.equal(ours[k], theirs[k]) for k in ours):
        raise ConfigError(f"{path}: its trunk (stem and blocks before {model.branch_at}) differs from the base's; "
                        "train the head afresh")
    return other.branches[kind]


def _metadata(base_meta: dict, cfg: KindConfig, parts: dict[str, list[Sample]]) -> dict:
    meta = {k: v for k, v in base_meta.items() if k not in ("heads",)}
    # the branch is stored in float16: the file stays small, the face-swap weights stay exact
    meta.update(branch_at=cfg.branch_at, base_sha256=sha256(cfg.base), stored_half=["branches."],
                heads=heads_of(base_meta) + [{"kind": cfg.kind, "temperature": 1.0, "bias": 0.0}],
                kind_training={cfg.kind: {"recipe": asdict(cfg),
                                          "data": {name: describe(part) for name, part in parts.items()}}})
    return meta


def generator_rows(samples: list[Sample]) -> dict[str, list[int]]:
    """Per generator (a fake's method, else its source), the indexes of its fakes and of every real photo."""
    reals = [i for i, s in enumerate(samples) if s.label == 0]
    return {gen: reals + [i for i, s in enumerate(samples) if s.label == 1 and (s.method or s.source) == gen]
            for gen in sorted({s.method or s.source for s in samples if s.label == 1})}


def generator_report(samples: list[Sample], probs: dict[str, np.ndarray], unseen: list[str]) -> dict:
    """Each generator's held-out fakes against every held-out real photo of the kind's data, clean and under
    each of ``probs``' conditions; ``unseen`` marks the generators the run never trained on."""
    report = {}
    for gen, rows in generator_rows(samples).items():
        labels = np.array([samples[i].label for i in rows])
        rep = binary_report(labels, probs["clean"][rows])
        rep.update(source=samples[rows[-1]].source, unseen=gen in unseen, conditions={
            name: {k: binary_report(labels, p[rows])[k] for k in ("auc", "ap", "eer", "accuracy")}
            for name, p in probs.items() if name != "clean"})
        report[gen] = rep
    return report


def leave_one_out_figures(paths: list[str]) -> dict:
    """The unseen-generator figures of leave-one-generator-out runs (their ``report.json``), by generator."""
    figures = {}
    for path in paths:
        require_file(path, ConfigError)
        unseen = {g: r for g, r in json.loads(Path(path).read_text()).get("generators", {}).items() if r["unseen"]}
        if not unseen:
            raise ConfigError(f"{path}: not the report of a run with a generator left out (unseen_methods)")
        figures.update({g: {k: r[k] for k in ("auc", "ap", "eer", "ece", "n_real", "n_fake", "conditions")}
                        | {"run": path} for g, r in unseen.items()})
    return figures


def finalize_kind(cfg: KindConfig, best_path: Path, val: list[Sample], test: list[Sample],
                  leave_one_out: dict | None = None) -> dict:
    """Calibrate the new head on validation, report held-out test (clean and degraded) per source and per
    generator, store both in the checkpoint, with the ``leave_one_out`` figures of :func:`leave_one_out_figures`."""
    model, meta = load_checkpoint(best_path)
    batch = cfg.batch_size * 2
    val_logits = branch_logits(model, cfg.kind, val, meta, batch)
    labels = np.array([s.label for s in val])
    temperature, fitted = fit_calibration(val_logits, labels)
    photos = np.array([s.label == 0 and s.source in cfg.kind_sources for s in val])
    bias = capped_bias(val_logits[photos], temperature, fitted, cfg.max_photos_called)
    kind_test = [s for s in test if s.source in cfg.kind_sources]
    other_test = [s for s in test if s.source not in cfg.kind_sources]
    probs = {name: calibrated_probs(branch_logits(model, cfg.kind, kind_test, meta, batch, transform), temperature,
                                    bias) for name, transform in TEST_CONDITIONS.items()}
    other_probs = calibrated_probs(branch_logits(model, cfg.kind, other_test, meta, batch), temperature, bias)
    test_report = _report(kind_test + other_test, np.concatenate([probs["clean"], other_probs]))
    for name, p in probs.items():
        if name != "clean":
            for source, rep in _report(kind_test, p).items():
                test_report[source].setdefault("conditions", {})[name] = {k: rep[k] for k in ("auc", "ap", "eer",
                                                                                             "accuracy")}
    generators = generator_report(kind_test, probs, cfg.unseen_methods)
    calibration = {"temperature": temperature, "bias": bias, "bias_fitted": fitted,
                   "max_photos_called": cfg.max_photos_called,
                   "val_photos_called": float((calibrated_probs(val_logits[photos], temperature, bias) >= 0.5).mean())
                   if photos.any() else None,
                   "val_ece_before": expected_calibration_error(labels, calibrated_probs(val_logits)),
                   "val_ece_after": expected_calibration_error(labels, calibrated_probs(val_logits, temperature, bias))}
    meta["heads"] = [h if h["kind"] != cfg.kind else {"kind": cfg.kind, "temperature": temperature, "bias": bias}
                     for h in meta["heads"]]
    meta["kind_training"][cfg.kind].update(calibration=calibration, test=test_report, generators=generators,
                                           leave_one_out=leave_one_out or {})
    # what the reading text says: each generator's held-out fakes against held-out real photos
    meta["tested_on"] = [r for r in meta.get("tested_on", []) if cfg.kind not in (r.get("method"), r.get("kind"))] + [
        {"source": rep["source"], "method": gen, "kind": cfg.kind, "level": "frame", "auc": rep["auc"],
         "ece": rep["ece"], "n_real": rep["n_real"], "n_fake": rep["n_fake"], "unseen": rep["unseen"],
         "detected": 1 - rep["false_negative_rate"]}
        for gen, rep in generators.items()] + [
        # and, per source (a pool would hide the worst one), the held-out real photos called this kind
        {"source": source, "method": "", "kind": cfg.kind, "level": "frame", "n_real": test_report[source]["n_real"],
         "n_fake": 0, "false_positive_rate": test_report[source]["false_positive_rate"]}
        for source in sorted(cfg.kind_sources) if test_report.get(source, {}).get("n_real")]
    save_checkpoint(best_path, model, meta)
    curves = {f"{gen}{' (unseen)' if generators[gen]['unseen'] else ''} vs real photos":
              (np.array([kind_test[i].label for i in rows]), probs["clean"][rows])
              for gen, rows in generator_rows(kind_test).items()}
    plot_roc(curves, Path(cfg.out) / "roc_test.png", title=f"{cfg.kind} head: held-out test")
    report = {"kind": cfg.kind, "checkpoint": str(best_path), "calibration": calibration, "test": test_report,
              "generators": generators}
    write_text_atomic(Path(cfg.out) / "report.json", json.dumps(report, indent=2))
    return report
