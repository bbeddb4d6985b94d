"""Training: balanced sampling, augmentation, AMP on CUDA, resume, best-by-AUC, early stopping,
calibration (temperature and bias), a held-out test report, and data-parallel training under torchrun.

The data are split by group into train / val / test. Val picks the best
epoch and fits the calibration; test is only reported, never used to decide.

Under ``torchrun --nproc_per_node N`` each rank trains on its part of every
global batch (DDP averages the gradients), so ``batch_size`` is the effective
batch whatever N is, the run draws the same samples as a single process, and a
checkpoint resumes under any world size. Rank 0 alone writes files and logs.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core import distributed
from ..core.atomic import write_text_atomic
from ..core.errors import ConfigError, InputError
from ..core.paths import sha256
from ..datasets.crops import crop_framing
from ..datasets.samples import (
    LABELS,
    Sample,
    cap_per_source,
    describe,
    group_rank,
    load_source,
    rank_cut,
    read_splits,
    split_by_group,
    split_by_official_lists,
)
from ..evaluation.metrics import binary_report, expected_calibration_error, plot_roc
from ..inference.reading import tested_on_rows
from ..models.calibration import calibrated_probs, fit_calibration
from ..models.checkpoint import save_checkpoint
from ..models.registry import ModelSpec, create_model, model_spec
from .boundary import BoundaryNet, boundary_loss
from .dataset import FaceDataset, Partners, balanced_weights
from .loop import Run, start
from .recipe import TrainConfig


def three_way_split(samples: list[Sample], cfg: TrainConfig):
    """Train / val / test by group; sources with official split lists follow those instead.

    With ``cfg.splits`` (a previous run's ``splits.json``) every group it lists stays where it
    was, so a model fine-tuned from that run never trains on what the run held out, nor holds
    out what it trained on; only the groups it did not list are split by hash.
    """
    where = read_splits(cfg.splits) if cfg.splits else {}
    known = [s for s in samples if f"{s.source}:{s.group}" in where]
    samples = [s for s in samples if f"{s.source}:{s.group}" not in where]
    listed = [s for s in samples if s.source in cfg.official_splits]
    rest, test = split_by_group([s for s in samples if s.source not in cfg.official_splits], cfg.test_fraction,
                                seed=cfg.seed)
    train, val = split_by_group(rest, cfg.val_fraction / (1 - cfg.test_fraction), seed=cfg.seed + 1)
    for source, split_dir in sorted(cfg.official_splits.items()):
        parts = split_by_official_lists([s for s in listed if s.source == source], split_dir)
        train, val, test = train + parts["train"], val + parts["val"], test + parts["test"]
    parts = {"train": train, "val": val, "test": test}
    for s in known:
        parts[where[f"{s.source}:{s.group}"]].append(s)
    return parts["train"], parts["val"], parts["test"]


def _frozen(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def freeze(model: nn.Module, prefixes: list[str]) -> list[nn.Module]:
    """Stop gradients to the parameters under ``prefixes``; returns their normalisation layers,
    which must also stay in eval mode so their running statistics do not drift."""
    frozen = 0
    for name, p in model.named_parameters():
        p.requires_grad_(not _frozen(name, prefixes))
        frozen += not p.requires_grad
    if prefixes and not frozen:
        raise ConfigError(f"freeze: no parameter of the model starts with {prefixes}")
    return [m for n, m in model.named_modules()
            if _frozen(n, prefixes) and isinstance(m, nn.modules.batchnorm._BatchNorm)]


def initial_model(cfg: TrainConfig) -> nn.Module:
    """ImageNet (or random) weights, or with ``cfg.init`` a checkpoint's weights (same architecture)."""
    if not cfg.init:
        return create_model(cfg.model, pretrained=cfg.pretrained)
    from ..models.checkpoint import load_checkpoint

    model, meta = load_checkpoint(cfg.init)
    if meta["architecture"] != cfg.model:
        raise ConfigError(f"{cfg.init}: a {meta['architecture']} checkpoint cannot start a run of model {cfg.model}")
    return model


def _param_groups(model: nn.Module, cfg: TrainConfig):
    """The new heads (the model's ``get_classifier()``, a ``BoundaryNet``'s boundary head) learn at full rate,
    the pretrained backbone slower; frozen parameters not at all."""
    fresh = [model.head, model.model.get_classifier()] if isinstance(model, BoundaryNet) else [model.get_classifier()]
    classifier = {id(p) for layer in fresh for p in layer.parameters()}
    head, body = [], []
    for p in model.parameters():
        if p.requires_grad:
            (head if id(p) in classifier else body).append(p)
    scale = cfg.backbone_lr_scale if cfg.pretrained or cfg.init else 1.0
    return [{"params": body, "lr": cfg.lr * scale}, {"params": head, "lr": cfg.lr}]


class ShardedWeightedSampler(torch.utils.data.Sampler):
    """The epoch's balanced draw (identical on every rank, seeded by epoch); each rank takes its
    slice of every global batch, so the ranks' data are disjoint and together equal one process's.

    With ``partners`` the draw is half the batch, each face followed by its partner (``data.Partners``),
    and a pair never straddles two ranks."""

    def __init__(self, weights: torch.Tensor, batches: int, batch_size: int, world: distributed.World, seed: int,
                 partners: Partners | None = None):
        if batch_size % (world.size * (2 if partners else 1)):
            raise ConfigError(f"batch size {batch_size} does not split over {world.size} processes"
                            + (" in pairs" if partners else ""))
        self.weights, self.batches, self.batch_size, self.world, self.seed = weights, batches, batch_size, world, seed
        self.partners = partners
        self.per_rank = batch_size // world.size
        self.epoch = 0
        self.skip = 0  # batches of the epoch already trained on (a run resumed mid-epoch)

    def __len__(self) -> int:
        return (self.batches - self.skip) * self.per_rank

    def __iter__(self):
        seed = self.seed * 1000 + self.epoch
        pairs = 2 if self.partners else 1
        draw = torch.multinomial(self.weights, self.batches * self.batch_size // pairs, True,
                                 generator=torch.Generator().manual_seed(seed))
        if self.partners:
            rng = np.random.default_rng(seed)
            draw = torch.tensor([j for i in draw.tolist() for j in (i, self.partners(i, rng))])
        start = self.world.rank * self.per_rank
        mine = draw.view(self.batches, self.batch_size)[self.skip:, start:start + self.per_rank]
        return iter(mine.reshape(-1).tolist())


@torch.inference_mode()
def predict_logits(model: nn.Module, loader, device: torch.device, amp: bool) -> np.ndarray:
    model.eval()
    out = np.zeros(len(loader.dataset), np.float32)
    for x, _, idx in loader:
        x = x.to(device, non_blocking=True).to(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            logits = model(x).float().squeeze(1)
        out[idx.numpy()] = logits.cpu().numpy()
    return out


def per_source_report(samples: list[Sample], logits: np.ndarray, temperature: float = 1.0, bias: float = 0.0,
                      threshold: float = 0.5) -> dict:
    """Per source; where its fakes name their manipulation methods, also each method against the reals."""
    return probs_report(samples, calibrated_probs(logits, temperature, bias), threshold)


def probs_report(samples: list[Sample], probs: np.ndarray, threshold: float = 0.5) -> dict:
    """:func:`per_source_report` of calibrated fake probabilities."""
    from sklearn.metrics import roc_auc_score

    report = {}
    fakes = [i for i, s in enumerate(samples) if s.label == 1]
    for source in sorted({s.source for s in samples}):
        idx = [i for i, s in enumerate(samples) if s.source == source]
        report[source] = _report([samples[i] for i in idx], probs[idx], threshold)
        if report[source]["n_fake"] == 0 and fakes:
            # A source of reals only (real_sources) has no AUC of its own: rank its reals against every fake.
            report[source]["auc_against_all_fakes"] = float(roc_auc_score(
                [0] * len(idx) + [1] * len(fakes), np.concatenate([probs[idx], probs[fakes]])))
        methods = sorted({samples[i].method for i in idx if samples[i].label == 1} - {"", "original"})
        if methods:
            report[source]["methods"] = {}
        for method in methods:
            keep = [i for i in idx if samples[i].label == 0 or samples[i].method == method]
            report[source]["methods"][method] = _report([samples[i] for i in keep], probs[keep], threshold)
    return report


def _report(samples: list[Sample], probs: np.ndarray, threshold: float) -> dict:
    return binary_report([s.label for s in samples], probs, [s.video for s in samples], threshold)


def selection_score(report: dict) -> float:
    """Mean frame-level AUC over sources (a source of reals only: its reals against every fake): what 'best'
    means."""
    aucs = [r["auc"] if r["auc"] is not None else r.get("auc_against_all_fakes") for r in report.values()]
    aucs = [a for a in aucs if a is not None]
    return float(np.mean(aucs)) if aucs else 0.0


def _loader(dataset, batch_size, workers, sampler=None, shuffle=False):
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=shuffle, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=False, drop_last=sampler is not None)


def _bce(logits: np.ndarray, labels: np.ndarray) -> float:
    t = torch.from_numpy(logits)
    return float(nn.functional.binary_cross_entropy_with_logits(t, torch.from_numpy(labels.astype(np.float32))))


def _check(cfg: TrainConfig) -> None:
    if not cfg.sources:
        raise ConfigError("no training data: give --data NAME=PATH (or a recipe with 'sources')")
    if cfg.keep not in ("best", "last"):
        raise ConfigError(f"keep must be 'best' or 'last', not {cfg.keep!r}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.samples_per_epoch < cfg.batch_size:
        raise ConfigError("epochs and batch size must be at least 1, and samples per epoch at least one batch")
    if unknown := sorted(set(cfg.real_sources) - set(cfg.sources)):
        raise ConfigError(f"real_sources names no source of the recipe: {', '.join(unknown)}")
    if cfg.boundary_weight and not (cfg.self_blend or cfg.pairs):
        raise ConfigError("boundary_weight needs self_blend or pairs: only self-blended faces have a known boundary")
    if cfg.pairs and cfg.self_blend:
        raise ConfigError("pairs gives every real face a self-blended twin: set self_blend to 0 with it")
    if not 0 <= cfg.pair_twin_share <= 1 or (cfg.pair_twin_share < 1 and not cfg.pairs):
        raise ConfigError("pair_twin_share is a share between 0 and 1, and only for a recipe with pairs")


@dataclass
class RunData:
    train: list[Sample]
    val: list[Sample]  # all of validation
    val_eval: list[Sample]  # the capped part scored every epoch
    test: list[Sample]
    summary: dict  # counts per split, source, label and method: stored in the checkpoint
    framing: dict | None  # detector and margin the crops were cut with (None: not recorded, v1 folders)


def run_data(cfg: TrainConfig) -> RunData:
    """The recipe's crops split by group into train / val / test, with its exclusions applied."""
    samples = [s for name, paths in sorted(cfg.sources.items())
               for path in ([paths] if isinstance(paths, str) else paths) for s in load_source(path, name)
               if group_rank(s.group, -1) < rank_cut(cfg.group_fraction.get(name, 1.0))
               and not (name in cfg.real_sources and s.label == 1)]
    train_s, val_s, test_s = three_way_split(samples, cfg)
    # Leave-method-out: the method is never trained on nor chosen by; test keeps it (that is the point).
    train_s, val_s = ([s for s in part if s.method not in cfg.exclude_methods] for part in (train_s, val_s))
    if cfg.reals_only:
        train_s = [s for s in train_s if s.label == 0]
    summary = {"train": describe(train_s), "val": describe(val_s), "test": describe(test_s)}
    framing = crop_framing([path for paths in cfg.sources.values()
                            for path in ([paths] if isinstance(paths, str) else paths)])
    return RunData(train_s, val_s, cap_per_source(val_s, cfg.max_val_per_source, cfg.seed), test_s, summary, framing)


def _schedule(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """Linear warm-up, then cosine decay to zero over the run."""
    total, warmup = steps_per_epoch * cfg.epochs, int(cfg.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))


class FaceSwapRun(Run):
    """The face-swap model's run: balanced (or paired) draws of face crops, self-blending, an optional
    boundary target, validation by mean AUC over sources."""

    def __init__(self, cfg: TrainConfig, data: RunData, device: torch.device, world: distributed.World):
        steps = cfg.samples_per_epoch // cfg.batch_size
        super().__init__(cfg.out, cfg.epochs, steps, cfg.batch_size, cfg.time_limit_min, cfg.patience, cfg.keep,
                         device, cfg.amp and device.type == "cuda", world)
        self.cfg, self.data, self.spec = cfg, data, model_spec(cfg.model)
        model = initial_model(cfg)
        self.frozen_norms = freeze(model, cfg.freeze)
        self.model = model.to(device).to(memory_format=torch.channels_last)
        self.trainee = (BoundaryNet(self.model, cfg.boundary_layer, self.spec.input_size).to(device)
                        if cfg.boundary_weight else self.model)
        self.train_ds = _train_dataset(cfg, data, self.spec, self.trainee.map_size if cfg.boundary_weight else 0)
        if cfg.pairs and cfg.reals_only:  # a real face without landmarks has no twin, and no fake to go with
            keep = self.train_ds.blendable()
            if world.is_main and not all(keep):
                print(f"pairs, reals only: {keep.count(False)} real training faces without landmarks left out",
                      file=sys.stderr)
            data.train = self.train_ds.samples = [s for s, k in zip(data.train, keep) if k]
        self.optimizer = torch.optim.AdamW(_param_groups(self.trainee, cfg), weight_decay=cfg.weight_decay)
        self.schedule = _schedule(self.optimizer, cfg, steps)
        self.sampler = ShardedWeightedSampler(torch.as_tensor(balanced_weights(data.train), dtype=torch.double),
                                              steps, cfg.batch_size, world, cfg.seed, _partners(cfg, self.train_ds))
        self.meta = _metadata(cfg, self.spec, data)  # per checkpoint saved, only its validation report differs
        self.net: nn.Module = self.trainee
        self.seen: dict[int, list[int]] = {}
        self.loss_fn = nn.BCEWithLogitsLoss()

    def resume(self) -> int:
        resumed = super().resume()
        # DDP after any resume: it broadcasts rank 0's weights and averages gradients from here on.
        if self.world.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.trainee, device_ids=ids)
        return resumed

    def train_mode(self) -> None:
        self.net.train()
        for m in self.frozen_norms:  # frozen layers keep their running statistics
            m.eval()

    def batches(self, epoch: int, skip: int = 0):
        self.train_ds.epoch = self.sampler.epoch = epoch
        self.sampler.skip = skip
        self.epoch_seen = self.seen.setdefault(epoch, []) if self.cfg.record_seen else None
        return _loader(self.train_ds, self.cfg.batch_size // self.world.size, self.cfg.workers, sampler=self.sampler)

    def step(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """BCE on the fake logit; with ``boundary_weight`` (a ``BoundaryNet``, items carrying boundary maps) plus
        that weight times the boundary loss. Counts the fakes (real or self-blended) trained on."""
        x, y, idx, *boundary = batch
        if self.epoch_seen is not None:
            self.epoch_seen.extend(idx.tolist())
        x = x.to(self.device, non_blocking=True).to(memory_format=torch.channels_last)
        y = y.to(self.device, non_blocking=True).float()
        numbers = {"fakes": float(y.sum()), "count": len(y)}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.net(x)
            logits, drawn = out if self.cfg.boundary_weight else (out, None)
            loss = self.loss_fn(logits.float().squeeze(1), y)
            if self.cfg.boundary_weight:
                extra = boundary_loss(drawn.float(), boundary[0].to(self.device, non_blocking=True))
                numbers["boundary_loss"] = extra.item()
                loss = loss + self.cfg.boundary_weight * extra
        return loss, numbers

    def summarise(self, totals: list[dict[str, float]]) -> dict:
        """Mean loss over ranks and the share of fakes trained on (it says self-blending really happened)."""
        row = {**super().summarise(totals),
               "train_fake_share": round(sum(t["fakes"] for t in totals) / max(1, sum(t["count"] for t in totals)), 4)}
        if self.cfg.boundary_weight:
            row["train_boundary_loss"] = float(np.mean([t["boundary_loss"] / max(1, t["steps"]) for t in totals]))
        return row

    def predict_all(self, model: nn.Module, samples: list[Sample]) -> np.ndarray:
        """Logits for ``samples``, each rank scoring its shard, gathered in order on every rank."""
        mine = distributed.shard(list(range(len(samples))), self.world)
        ds = FaceDataset([samples[i] for i in mine], self.spec.input_size, self.spec.mean, self.spec.std, train=False)
        loader = _loader(ds, self.cfg.batch_size * 2, self.cfg.workers)
        part = predict_logits(model, loader, self.device, self.amp) if mine else []
        out = np.zeros(len(samples), np.float32)
        for idx, logits in distributed.gather(self.world, (mine, np.asarray(part, np.float32))):
            out[idx] = logits
        return out

    def validate(self) -> tuple[dict, dict]:
        """Per-source validation report, and the log columns it gives (``val_score`` decides "best")."""
        val_s = self.data.val_eval
        logits = self.predict_all(self.model, val_s)
        report = per_source_report(val_s, logits)
        labels = np.array([s.label for s in val_s])
        return report, {"val_loss": _bce(logits, labels), "val_score": selection_score(report),
                        **{f"val_auc_{k}": v["auc"] for k, v in report.items()},
                        # a source of reals only (real_sources): its reals against every fake, and how many it calls fake
                        **{f"val_auc_vs_fakes_{k}": v["auc_against_all_fakes"] for k, v in report.items()
                           if "auc_against_all_fakes" in v},
                        **{f"val_fpr_{k}": v["false_positive_rate"] for k, v in report.items() if v["auc"] is None},
                        **{f"val_video_auc_{k}": v["video"]["auc"] for k, v in report.items()}}

    def save_best(self, report: dict) -> None:
        save_checkpoint(self.best_path, self.model, {**self.meta, "val": report})


def train(cfg: TrainConfig) -> dict:
    """Run a recipe end to end; returns the final report (also written to ``out/report.json``)."""
    _check(cfg)
    device, world = start(cfg.seed, cfg.device, cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = run_data(cfg)
    if world.is_main:
        _write_splits(out / "splits.json", data)
        print(json.dumps(data.summary), file=sys.stderr)
    run = FaceSwapRun(cfg, data, device, world)
    try:
        run.fit(from_starting_point=bool(cfg.init))
        _write_seen(cfg, out, world, run.seen)
        run.net = run.trainee = None  # DDP holds the process group: released here, not at exit
        report = finalize(run)
        distributed.barrier(world)  # no rank tears the group down while another still uses it
        return report
    finally:
        distributed.shutdown()


def _write_splits(path: Path, data: RunData) -> None:
    """Which groups each split holds (``"source:group"``): what later runs keep apart and evaluations exclude."""
    parts = (("train", data.train), ("val", data.val), ("test", data.test))
    write_text_atomic(path, json.dumps({name: sorted({f"{s.source}:{s.group}" for s in part}) for name, part in parts}))


def _train_dataset(cfg: TrainConfig, data: RunData, spec: ModelSpec, boundary_size: int) -> FaceDataset:
    """The training faces, self-blended and with boundary maps of that side as the recipe asks."""
    return FaceDataset(data.train, spec.input_size, spec.mean, spec.std, train=True, seed=cfg.seed,
                       self_blend=cfg.self_blend, landmarks=_landmarks(cfg) if cfg.self_blend or cfg.pairs else {},
                       boundary_size=boundary_size)


def _partners(cfg: TrainConfig, train_ds: FaceDataset) -> Partners | None:
    return Partners(train_ds.samples, train_ds.blendable(), cfg.pair_twin_share) if cfg.pairs else None


def _write_seen(cfg: TrainConfig, out: Path, world, seen: dict[int, list[int]]) -> None:
    if cfg.record_seen:
        ranks = distributed.gather(world, seen)
        if world.is_main:
            write_text_atomic(out / "seen.json", json.dumps(
                {"processes": world.size, "epochs": {e: [r.get(e, []) for r in ranks] for e in sorted(seen)}}))


def _landmarks(cfg: TrainConfig) -> dict[str, np.ndarray]:
    """Cached FaceMesh landmarks of every source (``flashivy blend CROPS --landmarks`` makes them)."""
    from .blend import LANDMARKS_FILE, load_landmarks

    found: dict[str, np.ndarray] = {}
    for paths in cfg.sources.values():
        for path in [paths] if isinstance(paths, str) else paths:
            root = Path(path) if Path(path).is_dir() else Path(path).parent
            found.update(load_landmarks(root))
    if not found:
        raise InputError("self_blend and pairs need landmarks: run `flashivy blend CROPS --landmarks` "
                        f"(writes {LANDMARKS_FILE})")
    return found


def _metadata(cfg: TrainConfig, spec, data: RunData) -> dict:
    """Checkpoint metadata before calibration (``finalize`` adds the temperature and the reports)."""
    from ..faces.detectors import DEFAULT_DETECTOR, DEFAULT_MARGIN

    # the framing inference must reproduce: the one the training crops' index records (v1 folders record
    # none; they are taken to be cut the default way)
    framing = data.framing or {"detector": DEFAULT_DETECTOR, "margin": DEFAULT_MARGIN}
    return {
        "format": 1, "architecture": cfg.model, "input_size": spec.input_size, "mean": list(spec.mean),
        "std": list(spec.std), "classes": list(LABELS), "positive_class": "fake", "output": "logit",
        "crop": {**framing, "size": spec.input_size},
        "threshold": 0.5, "temperature": 1.0, "data": data.summary, "recipe": asdict(cfg),
        **({"init_sha256": sha256(cfg.init)} if cfg.init else {}),  # which file it was fine-tuned from
    }


def finalize(run: FaceSwapRun) -> dict:
    """Fit temperature and bias on val, store them, and report val and held-out test metrics (rank 0 writes)."""
    from ..models.checkpoint import load_checkpoint, read_metadata

    cfg, best_path, val_s, test_s = run.cfg, run.best_path, run.data.val_eval, run.data.test
    model, meta = load_checkpoint(best_path, device=str(run.device))
    model = model.to(memory_format=torch.channels_last)
    val_logits = run.predict_all(model, val_s)
    val_labels = np.array([s.label for s in val_s])
    temperature, bias = fit_calibration(val_logits, val_labels)
    calibration = {
        "temperature": temperature, "bias": bias,
        "val_ece_before": expected_calibration_error(val_labels, calibrated_probs(val_logits)),
        "val_ece_after": expected_calibration_error(val_labels, calibrated_probs(val_logits, temperature, bias)),
    }
    test_logits = run.predict_all(model, test_s)
    test_report = per_source_report(test_s, test_logits, temperature, bias)
    report = {"model": cfg.model, "checkpoint": str(best_path), "calibration": calibration,
              "val": per_source_report(val_s, val_logits, temperature, bias), "test": test_report}
    if not run.world.is_main:
        return report
    meta = read_metadata(best_path)
    meta.update(temperature=temperature, bias=bias, calibration=calibration, val=report["val"], test=test_report,
                tested_on=tested_on_rows(test_report))
    save_checkpoint(best_path, model, meta)
    probs = calibrated_probs(test_logits, temperature, bias)
    curves = {}
    for source in sorted({s.source for s in test_s}):
        idx = [i for i, s in enumerate(test_s) if s.source == source]
        curves[f"{source} frames"] = (np.array([test_s[i].label for i in idx]), probs[idx])
    plot_roc(curves, run.out / "roc_test.png", title=f"{cfg.model}: held-out test split")
    write_text_atomic(run.out / "report.json", json.dumps(report, indent=2))
    return report
