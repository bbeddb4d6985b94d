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

import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import distributed
from .atomic import atomic_path, write_text_atomic
from .boundary import BoundaryNet, boundary_loss
from .checkpoint import save_checkpoint, sha256
from .crops import crop_framing
from .data import (
    LABELS,
    FaceDataset,
    Partners,
    Sample,
    balanced_weights,
    describe,
    group_rank,
    load_source,
    read_splits,
    split_by_group,
    split_by_official_lists,
)
from .errors import UserError
from .metrics import (
    binary_report,
    calibrated_probs,
    expected_calibration_error,
    fit_calibration,
    plot_roc,
)
from .models import ModelSpec, create_model, model_spec
from .reading import tested_on_rows
from .recipe import TrainConfig
from .sheets import save_figure


def pick_device(name: str = "auto") -> torch.device:
    from .runtime import resolve_device

    name = resolve_device(name)
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but CUDA is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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


def rank_cut(fraction: float) -> str:
    """Hex threshold so that ``group_rank(g) < cut`` keeps about ``fraction`` of the groups."""
    return "f" * 40 + "~" if fraction >= 1 else f"{int(fraction * 16**8):08x}"


def _cap(samples: list[Sample], per_source: int, seed: int) -> list[Sample]:
    """At most ``per_source`` samples of each source, whole groups kept together."""
    out = []
    for source in sorted({s.source for s in samples}):
        mine = [s for s in samples if s.source == source]
        if len(mine) <= per_source:
            out += mine
            continue
        groups = sorted({s.group for s in mine}, key=lambda g: group_rank(g, seed))
        keep = set(groups[: max(1, int(len(groups) * per_source / len(mine)))])
        out += [s for s in mine if s.group in keep]
    return out


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
        raise UserError(f"freeze: no parameter of the model starts with {prefixes}")
    return [m for n, m in model.named_modules()
            if _frozen(n, prefixes) and isinstance(m, nn.modules.batchnorm._BatchNorm)]


def initial_model(cfg: TrainConfig) -> nn.Module:
    """ImageNet (or random) weights, or with ``cfg.init`` a checkpoint's weights (same architecture)."""
    if not cfg.init:
        return create_model(cfg.model, pretrained=cfg.pretrained)
    from .checkpoint import load_checkpoint

    model, meta = load_checkpoint(cfg.init)
    if meta["architecture"] != cfg.model:
        raise UserError(f"{cfg.init}: a {meta['architecture']} checkpoint cannot start a run of model {cfg.model}")
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
            raise UserError(f"batch size {batch_size} does not split over {world.size} processes"
                            + (" in pairs" if partners else ""))
        self.weights, self.batches, self.batch_size, self.world, self.seed = weights, batches, batch_size, world, seed
        self.partners = partners
        self.per_rank = batch_size // world.size
        self.epoch = 0

    def __len__(self) -> int:
        return self.batches * self.per_rank

    def __iter__(self):
        seed = self.seed * 1000 + self.epoch
        pairs = 2 if self.partners else 1
        draw = torch.multinomial(self.weights, self.batches * self.batch_size // pairs, True,
                                 generator=torch.Generator().manual_seed(seed))
        if self.partners:
            rng = np.random.default_rng(seed)
            draw = torch.tensor([j for i in draw.tolist() for j in (i, self.partners(i, rng))])
        start = self.world.rank * self.per_rank
        return iter(draw.view(self.batches, self.batch_size)[:, start:start + self.per_rank].reshape(-1).tolist())


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


def predict_all(model: nn.Module, samples: list[Sample], cfg: TrainConfig, device: torch.device, amp: bool,
                world: distributed.World) -> np.ndarray:
    """Logits for ``samples``, each rank scoring its shard, gathered in order on every rank."""
    spec = model_spec(cfg.model)
    mine = distributed.shard(list(range(len(samples))), world)
    ds = FaceDataset([samples[i] for i in mine], spec.input_size, spec.mean, spec.std, train=False)
    part = predict_logits(model, _loader(ds, cfg.batch_size * 2, cfg.workers), device, amp) if mine else []
    out = np.zeros(len(samples), np.float32)
    for idx, logits in distributed.gather(world, (mine, np.asarray(part, np.float32))):
        out[idx] = logits
    return out


def per_source_report(samples: list[Sample], logits: np.ndarray, temperature: float = 1.0, bias: float = 0.0,
                      threshold: float = 0.5) -> dict:
    """Per source; where its fakes name their manipulation methods, also each method against the reals."""
    from sklearn.metrics import roc_auc_score

    probs = calibrated_probs(logits, temperature, bias)
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


def _plot_curves(log_rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in log_rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [r["train_loss"] for r in log_rows], "o-", label="train loss")
    a.plot(epochs, [r["val_loss"] for r in log_rows], "o-", label="val loss")
    a.set(xlabel="epoch", title="loss")
    a.legend()
    for key in [k for k in log_rows[0] if k.startswith("val_auc_") and any(r[k] is not None for r in log_rows)]:
        label = f"{key[len('val_auc_vs_fakes_'):]}: its reals vs every fake" if "_vs_fakes_" in key else key[4:]
        b.plot(epochs, [r[key] for r in log_rows], "o-", label=label)
    b.set(xlabel="epoch", title="validation AUC (frame level)")
    b.legend()
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def _bce(logits: np.ndarray, labels: np.ndarray) -> float:
    t = torch.from_numpy(logits)
    return float(nn.functional.binary_cross_entropy_with_logits(t, torch.from_numpy(labels.astype(np.float32))))


def _check(cfg: TrainConfig) -> None:
    if not cfg.sources:
        raise UserError("no training data: give --data NAME=PATH (or a recipe with 'sources')")
    if cfg.keep not in ("best", "last"):
        raise UserError(f"keep must be 'best' or 'last', not {cfg.keep!r}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.samples_per_epoch < cfg.batch_size:
        raise UserError("epochs and batch size must be at least 1, and samples per epoch at least one batch")
    if unknown := sorted(set(cfg.real_sources) - set(cfg.sources)):
        raise UserError(f"real_sources names no source of the recipe: {', '.join(unknown)}")
    if cfg.boundary_weight and not (cfg.self_blend or cfg.pairs):
        raise UserError("boundary_weight needs self_blend or pairs: only self-blended faces have a known boundary")
    if cfg.pairs and cfg.self_blend:
        raise UserError("pairs gives every real face a self-blended twin: set self_blend to 0 with it")
    if not 0 <= cfg.pair_twin_share <= 1 or (cfg.pair_twin_share < 1 and not cfg.pairs):
        raise UserError("pair_twin_share is a share between 0 and 1, and only for a recipe with pairs")


def _start(cfg: TrainConfig) -> tuple[torch.device, distributed.World]:
    """Seeds, device, process group and threads."""
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    world = distributed.init(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.backends.cudnn.benchmark = True
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    return device, world


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
    return RunData(train_s, val_s, _cap(val_s, cfg.max_val_per_source, cfg.seed), test_s, summary, framing)


def _schedule(optimizer, cfg: TrainConfig, steps_per_epoch: int):
    """Linear warm-up, then cosine decay to zero over the run."""
    total, warmup = steps_per_epoch * cfg.epochs, int(cfg.warmup_epochs * steps_per_epoch)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))


def _resume(path: Path, model, optimizer, schedule, device) -> tuple[int, float, int, list[dict]]:
    """Epoch to start at, best score, epochs without gain, log so far (from ``last.pt`` when it exists)."""
    if not path.exists():
        return 0, -1.0, 0, []
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return state["epoch"] + 1, state["best"], state["stale"], json.loads(state["log"])


def _train_epoch(net, bar, optimizer, schedule, device, amp: bool, seen: list[int] | None,
                 boundary_weight: float = 0.0) -> dict:
    """One pass over the epoch's draw; returns the mean loss and the share of fakes trained on.

    With ``boundary_weight`` the net is a ``BoundaryNet`` and the items carry boundary maps: the loss adds
    that weight times the boundary loss (``boundary_loss`` in the result is its mean, unweighted)."""
    loss_fn = nn.BCEWithLogitsLoss()
    losses, boundary_losses, fakes, count = [], [], 0.0, 0
    for x, y, idx, *boundary in bar:
        if seen is not None:
            seen.extend(idx.tolist())
        x = x.to(device, non_blocking=True).to(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True).float()
        # the share of fakes (real or self-blended): says self-blending really happened
        fakes, count = fakes + float(y.sum()), count + len(y)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = net(x)
            logits, drawn = out if boundary_weight else (out, None)
            loss = loss_fn(logits.float().squeeze(1), y)
            if boundary_weight:
                extra = boundary_loss(drawn.float(), boundary[0].to(device, non_blocking=True))
                boundary_losses.append(extra.item())
                loss = loss + boundary_weight * extra
        optimiser_step(loss, optimizer, schedule, losses, bar)
    done = {"loss": float(np.mean(losses)), "fakes": fakes, "count": count}
    return {**done, "boundary_loss": float(np.mean(boundary_losses))} if boundary_weight else done


def optimiser_step(loss, optimizer, schedule, losses: list[float], bar) -> None:
    """Backward, step the optimiser and the schedule, log the loss on the progress bar (mean of the last 50)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    schedule.step()
    losses.append(loss.item())
    bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")


def _save_state(path: Path, model, optimizer, schedule, epoch: int, best: float, stale: int, log_rows) -> None:
    tmp = path.with_suffix(".pt.tmp")  # no half-written state if killed here
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "epoch": epoch, "best": best, "stale": stale, "log": json.dumps(log_rows)}, tmp)
    tmp.replace(path)


def _over_budget(cfg: TrainConfig, started: float, log_rows: list[dict], world) -> bool:
    """Would another epoch (as long as the last) end past the time budget? Rank 0's clock decides for all."""
    elapsed = time.time() - started
    over = bool(cfg.time_limit_min and log_rows and elapsed + log_rows[-1]["seconds"] > cfg.time_limit_min * 60)
    return distributed.broadcast(world, over)


def train(cfg: TrainConfig) -> dict:
    """Run a recipe end to end; returns the final report (also written to ``out/report.json``)."""
    _check(cfg)
    device, world = _start(cfg)
    main, amp, out = world.is_main, cfg.amp and device.type == "cuda", Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data = run_data(cfg)
    if main:
        _write_splits(out / "splits.json", data)
        print(json.dumps(data.summary), file=sys.stderr)
    spec = model_spec(cfg.model)
    model = initial_model(cfg)
    frozen_norms = freeze(model, cfg.freeze)
    model = model.to(device).to(memory_format=torch.channels_last)
    trainee = BoundaryNet(model, cfg.boundary_layer, spec.input_size).to(device) if cfg.boundary_weight else model
    train_ds = _train_dataset(cfg, data, spec, trainee.map_size if cfg.boundary_weight else 0)
    optimizer = torch.optim.AdamW(_param_groups(trainee, cfg), weight_decay=cfg.weight_decay)
    steps_per_epoch = cfg.samples_per_epoch // cfg.batch_size
    schedule = _schedule(optimizer, cfg, steps_per_epoch)
    sampler = ShardedWeightedSampler(torch.as_tensor(balanced_weights(data.train), dtype=torch.double),
                                     steps_per_epoch, cfg.batch_size, world, cfg.seed, _partners(cfg, train_ds))
    state_path, best_path = out / "last.pt", out / "best.safetensors"
    start_epoch, best, stale, log_rows = _resume(state_path, trainee, optimizer, schedule, device)
    if main and start_epoch:
        print(f"resumed from {state_path} at epoch {start_epoch}", file=sys.stderr)
    # DDP after any resume: it broadcasts rank 0's weights and averages gradients from here on.
    net = (nn.parallel.DistributedDataParallel(trainee, device_ids=[device.index] if device.type == "cuda" else None)
           if world.distributed else trainee)
    meta = _metadata(cfg, spec, data)  # per checkpoint saved, only its validation report differs
    if cfg.init and not log_rows:  # fine-tuning keeps the starting point unless an epoch beats it
        best = _score_starting_point(model, data, cfg, device, amp, world, log_rows, best_path, meta)
    started, seen = time.time(), {}
    for epoch in range(start_epoch, cfg.epochs):
        if stale >= cfg.patience and cfg.keep == "best":
            if main:
                print(f"early stop: no gain for {cfg.patience} epochs", file=sys.stderr)
            break
        if _over_budget(cfg, started, log_rows, world):
            if main:
                print(f"time budget of {cfg.time_limit_min} min reached after {epoch} epochs", file=sys.stderr)
            break
        t0 = time.time()
        train_ds.epoch = sampler.epoch = epoch
        net.train()
        for m in frozen_norms:
            m.eval()
        bar = tqdm(_loader(train_ds, cfg.batch_size // world.size, cfg.workers, sampler=sampler),
                   total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}", file=sys.stderr,
                   dynamic_ncols=True, disable=not main)
        done = _train_epoch(net, bar, optimizer, schedule, device, amp,
                            seen.setdefault(epoch, []) if cfg.record_seen else None, cfg.boundary_weight)
        train_time = time.time() - t0
        totals = distributed.gather(world, (done["loss"], done["fakes"], done["count"], done.get("boundary_loss")))
        report, row = _validate(model, data.val_eval, cfg, device, amp, world)
        row = {"epoch": epoch + 1, "train_loss": float(np.mean([t[0] for t in totals])),
               "train_fake_share": round(sum(t[1] for t in totals) / max(1, sum(t[2] for t in totals)), 4),
               **({"train_boundary_loss": float(np.mean([t[3] for t in totals]))} if cfg.boundary_weight else {}),
               **row,
               "lr": schedule.get_last_lr()[-1], "seconds": round(time.time() - t0, 1),
               "images_per_s": round(steps_per_epoch * cfg.batch_size / train_time, 1), "processes": world.size}
        log_rows.append(row)
        # Every rank holds the same gathered metrics, so all take the same best/stale decisions.
        improved = row["val_score"] > best
        best, stale = (row["val_score"], 0) if improved else (best, stale + 1)
        if main:
            print(json.dumps(row), file=sys.stderr)
            if improved or cfg.keep == "last":
                save_checkpoint(best_path, model, {**meta, "val": report})
            _save_state(state_path, trainee, optimizer, schedule, epoch, best, stale, log_rows)
            _write_log(log_rows, out / "log.csv")
            _plot_curves(log_rows, out / "curves.png")
    _write_seen(cfg, out, world, seen)
    del net, trainee  # DDP holds the process group: released here, not at some later collection or at exit
    distributed.barrier(world)  # best.safetensors is complete before anyone reads it
    try:
        report = finalize(cfg, best_path, data.val_eval, data.test, device, amp, world)
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


def _score_starting_point(model, data: RunData, cfg: TrainConfig, device, amp: bool, world, log_rows: list[dict],
                          best_path: Path, meta: dict) -> float:
    """Epoch 0 of a fine-tuning run: the starting weights, validated and saved as the best so far."""
    report, row = _validate(model, data.val_eval, cfg, device, amp, world)
    log_rows.append({"epoch": 0, "train_loss": float("nan"), **row, "lr": 0.0, "seconds": 0.0})
    if world.is_main:
        print(json.dumps(log_rows[-1]), file=sys.stderr)
        save_checkpoint(best_path, model, {**meta, "val": report})
    return row["val_score"]


def _write_seen(cfg: TrainConfig, out: Path, world, seen: dict[int, list[int]]) -> None:
    if cfg.record_seen:
        ranks = distributed.gather(world, seen)
        if world.is_main:
            write_text_atomic(out / "seen.json", json.dumps(
                {"processes": world.size, "epochs": {e: [r.get(e, []) for r in ranks] for e in sorted(seen)}}))


def _validate(model: nn.Module, val_s: list[Sample], cfg: TrainConfig, device: torch.device, amp: bool,
              world: distributed.World) -> tuple[dict, dict]:
    """Per-source validation report, and the log columns it gives (``val_score`` decides "best")."""
    logits = predict_all(model, val_s, cfg, device, amp, world)
    report = per_source_report(val_s, logits)
    return report, {"val_loss": _bce(logits, np.array([s.label for s in val_s])), "val_score": selection_score(report),
                    **{f"val_auc_{k}": v["auc"] for k, v in report.items()},
                    # a source of reals only (real_sources): its reals against every fake, and how many it calls fake
                    **{f"val_auc_vs_fakes_{k}": v["auc_against_all_fakes"] for k, v in report.items()
                       if "auc_against_all_fakes" in v},
                    **{f"val_fpr_{k}": v["false_positive_rate"] for k, v in report.items() if v["auc"] is None},
                    **{f"val_video_auc_{k}": v["video"]["auc"] for k, v in report.items()}}


def _landmarks(cfg: TrainConfig) -> dict[str, np.ndarray]:
    """Cached FaceMesh landmarks of every source (``flashivy blend CROPS --landmarks`` makes them)."""
    from .blend import LANDMARKS_FILE, load_landmarks

    found: dict[str, np.ndarray] = {}
    for paths in cfg.sources.values():
        for path in [paths] if isinstance(paths, str) else paths:
            root = Path(path) if Path(path).is_dir() else Path(path).parent
            found.update(load_landmarks(root))
    if not found:
        raise UserError("self_blend and pairs need landmarks: run `flashivy blend CROPS --landmarks` "
                        f"(writes {LANDMARKS_FILE})")
    return found


def _write_log(rows: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _metadata(cfg: TrainConfig, spec, data: RunData) -> dict:
    """Checkpoint metadata before calibration (``finalize`` adds the temperature and the reports)."""
    from .faces import DEFAULT_DETECTOR, DEFAULT_MARGIN

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


def finalize(cfg: TrainConfig, best_path: Path, val_s: list[Sample], test_s: list[Sample],
             device: torch.device, amp: bool, world: distributed.World = distributed.World()) -> dict:
    """Fit temperature and bias on val, store them, and report val and held-out test metrics (rank 0 writes)."""
    from .checkpoint import load_checkpoint, read_metadata

    model, meta = load_checkpoint(best_path, device=str(device))
    model = model.to(memory_format=torch.channels_last)

    def logits_of(samples):
        return predict_all(model, samples, cfg, device, amp, world)

    val_logits = logits_of(val_s)
    val_labels = np.array([s.label for s in val_s])
    temperature, bias = fit_calibration(val_logits, val_labels)
    calibration = {
        "temperature": temperature, "bias": bias,
        "val_ece_before": expected_calibration_error(val_labels, calibrated_probs(val_logits)),
        "val_ece_after": expected_calibration_error(val_labels, calibrated_probs(val_logits, temperature, bias)),
    }
    test_logits = logits_of(test_s)
    test_report = per_source_report(test_s, test_logits, temperature, bias)
    report = {"model": cfg.model, "checkpoint": str(best_path), "calibration": calibration,
              "val": per_source_report(val_s, val_logits, temperature, bias), "test": test_report}
    if not world.is_main:
        return report
    meta = read_metadata(best_path)
    meta.update(temperature=temperature, bias=bias, calibration=calibration, val=report["val"], test=test_report,
                tested_on=tested_on_rows(test_report))
    save_checkpoint(best_path, model, meta)
    out = Path(cfg.out)
    probs = calibrated_probs(test_logits, temperature, bias)
    curves = {}
    for source in sorted({s.source for s in test_s}):
        idx = [i for i, s in enumerate(test_s) if s.source == source]
        curves[f"{source} frames"] = (np.array([test_s[i].label for i in idx]), probs[idx])
    plot_roc(curves, out / "roc_test.png", title=f"{cfg.model}: held-out test split")
    write_text_atomic(out / "report.json", json.dumps(report, indent=2))
    return report
