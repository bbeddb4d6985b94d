"""The one training loop, for everything flashivy trains: the face-swap model and each kind head.

A :class:`Run` says what is trained and how one batch is learnt: :meth:`Run.step` is the method a new kind
of run overrides (as pytorch-grad-cam's ``BaseCAM.get_cam_weights``), with :meth:`Run.batches`,
:meth:`Run.validate` and :meth:`Run.save_best` around it. :meth:`Run.fit` does the rest, the same way for
every run: resume from ``last.pt``, epochs under a time budget, early stopping, the best epoch kept by
validation (or the last, for a fixed budget), the state written atomically after every epoch, a progress
bar, ``log.csv`` and ``curves.png``. Under torchrun every rank runs the loop; rank 0 alone writes.
"""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..core import distributed
from ..core.atomic import atomic_path
from ..core.errors import ConfigError
from ..media.sheets import save_figure

STATE_FILE, BEST_FILE = "last.pt", "best.safetensors"


class Run:
    """One training run. Subclasses set ``trainee`` (what ``last.pt`` holds under "model": the whole net, or
    one branch), ``optimizer`` and ``schedule`` in their ``__init__``, and implement the four methods above
    ``fit``."""

    trainee: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler

    def __init__(self, out: str | Path, epochs: int, steps_per_epoch: int, batch_size: int,
                 time_limit_min: float = 0, patience: int | None = None, keep: str = "best",
                 device: torch.device = torch.device("cpu"), amp: bool = False,
                 world: distributed.World = distributed.World(), save_every_min: float = 15):
        self.out = Path(out)
        self.epochs, self.steps_per_epoch, self.batch_size = epochs, steps_per_epoch, batch_size
        self.time_limit_min, self.patience, self.keep = time_limit_min, patience, keep
        self.device, self.amp, self.world = device, amp, world
        self.state_path, self.best_path = self.out / STATE_FILE, self.out / BEST_FILE
        self.save_every_min = save_every_min  # last.pt within an epoch too, so a killed run loses at most this
        self.log: list[dict] = []
        self.best, self.stale = -1.0, 0
        self.resumed_step, self.resumed_totals = 0, {}  # where a run killed mid-epoch stopped, and its sums

    # ---- what a run says about itself -------------------------------------------------------------
    def step(self, batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one batch, and numbers to add up over the epoch for :meth:`summarise`."""
        raise NotImplementedError

    def batches(self, epoch: int, skip: int = 0) -> Iterable:
        """The epoch's batches (this rank's part of them), in order, the first ``skip`` left out (an epoch
        resumed where a killed run saved it: the same draw, from where it stopped)."""
        raise NotImplementedError

    def validate(self) -> tuple[dict, dict]:
        """A validation report (stored with the best checkpoint) and its log columns; ``val_score`` (higher
        is better) decides which epoch is best."""
        raise NotImplementedError

    def save_best(self, report: dict) -> None:
        """Write the current weights as ``best.safetensors`` with ``report`` (rank 0 only calls it)."""
        raise NotImplementedError

    def train_mode(self) -> None:
        """Put the modules in training mode before an epoch (frozen parts stay in eval mode)."""
        self.trainee.train()

    def summarise(self, totals: list[dict[str, float]]) -> dict:
        """Log columns from each rank's epoch totals of :meth:`step`'s numbers (``loss`` and ``steps`` always)."""
        return {"train_loss": float(np.mean([t["loss"] / max(1, t["steps"]) for t in totals]))}

    def starting_point(self) -> float:
        """Epoch 0 (fine-tuning): the starting weights validated and saved as the best so far."""
        report, row = self.validate()
        self.log.append({"epoch": 0, "train_loss": float("nan"), **row, "lr": 0.0, "seconds": 0.0})
        if self.world.is_main:
            print(json.dumps(self.log[-1]), file=sys.stderr)
            self.save_best(report)
        return row["val_score"]

    # ---- the loop ---------------------------------------------------------------------------------
    def fit(self, from_starting_point: bool = False) -> list[dict]:
        """Train to the end (or the budget, or early stopping); returns the log, one row per epoch."""
        main = self.world.is_main
        start = self.resume()
        if main and (start or self.resumed_step):
            print(f"resumed from {self.state_path} at epoch {start}"
                  + (f", step {self.resumed_step}" if self.resumed_step else ""), file=sys.stderr)
        if from_starting_point and not self.log:  # fine-tuning keeps its start unless an epoch beats it
            self.best = self.starting_point()
        started = time.time()
        for epoch in range(start, self.epochs):
            if self.patience is not None and self.stale >= self.patience and self.keep == "best":
                if main:
                    print(f"early stop: no gain for {self.patience} epochs", file=sys.stderr)
                break
            if self._over_budget(started):
                if main:
                    print(f"time budget of {self.time_limit_min} min reached after {epoch} epochs", file=sys.stderr)
                break
            t0 = time.time()
            totals = self._train_epoch(epoch)
            train_time = time.time() - t0
            report, row = self.validate()
            row = {"epoch": epoch + 1, **self.summarise(distributed.gather(self.world, totals)), **row,
                   "lr": self.schedule.get_last_lr()[-1], "seconds": round(time.time() - t0, 1),
                   "images_per_s": round(self.trained_steps * self.batch_size / train_time, 1),
                   "processes": self.world.size}
            self.log.append(row)
            # every rank holds the same gathered metrics, so all take the same best / stale decisions
            improved = row["val_score"] > self.best
            self.best, self.stale = (row["val_score"], 0) if improved else (self.best, self.stale + 1)
            if main:
                print(json.dumps(row), file=sys.stderr)
                if improved or self.keep == "last":
                    self.save_best(report)
                self._save_state(epoch + 1)
                write_log(self.log, self.out / "log.csv")
                plot_curves(self.log, self.out / "curves.png")
        distributed.barrier(self.world)  # best.safetensors is complete before anyone reads it
        if not self.best_path.exists():
            raise ConfigError(f"{self.out}: no epoch finished; nothing to finalize")
        return self.log

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.train_mode()
        skip, self.resumed_step = self.resumed_step, 0
        bar = tqdm(self.batches(epoch, skip), total=self.steps_per_epoch, initial=skip,
                   desc=f"epoch {epoch + 1}/{self.epochs}", file=sys.stderr, dynamic_ncols=True,
                   disable=not self.world.is_main)
        totals: dict[str, float] = {"loss": 0.0, "steps": 0, **self.resumed_totals}
        self.resumed_totals = {}
        recent: list[float] = []
        saved, done = time.time(), skip
        for batch in bar:
            loss, numbers = self.step(batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            recent = (recent + [loss.item()])[-50:]
            bar.set_postfix(loss=f"{np.mean(recent):.4f}")
            for key, value in {"loss": recent[-1], "steps": 1, **numbers}.items():
                totals[key] = totals.get(key, 0.0) + value
            done += 1  # batches of this epoch trained on, those before a resume included
            if self.save_every_min and time.time() - saved > self.save_every_min * 60 and done < self.steps_per_epoch:
                if self.world.is_main:
                    self._save_state(epoch, step=done, totals=totals)
                saved = time.time()
        self.trained_steps = done - skip  # by this process, for its images/s
        return totals

    def _over_budget(self, started: float) -> bool:
        """Would another epoch (as long as the last) end past the time budget? Rank 0's clock decides for all."""
        elapsed = time.time() - started
        over = bool(self.time_limit_min and self.log and elapsed + self.log[-1]["seconds"] > self.time_limit_min * 60)
        return distributed.broadcast(self.world, over)

    def _save_state(self, epochs_done: int, step: int = 0, totals: dict | None = None) -> None:
        """``last.pt``: the trainee, optimiser and schedule after ``epochs_done`` epochs and ``step`` batches of
        the next (mid-epoch saves carry that epoch's running ``totals``)."""
        with atomic_path(self.state_path) as tmp:  # no half-written state if killed here
            torch.save({"model": self.trainee.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "schedule": self.schedule.state_dict(), "epoch": epochs_done - 1, "best": self.best,
                        "stale": self.stale, "log": json.dumps(self.log), "step": step,
                        "totals": json.dumps(totals or {})}, tmp)

    def resume(self) -> int:
        """The epoch to start at, with the best score, the epochs without gain and any mid-epoch position
        restored from ``last.pt`` when it exists; called once, before the first epoch (a subclass extends it
        to wrap the net for torchrun after loading)."""
        if not self.state_path.exists():
            return 0
        state = torch.load(self.state_path, map_location=self.device, weights_only=True)
        self.trainee.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.log, self.best, self.stale = json.loads(state["log"]), state["best"], state["stale"]
        self.resumed_step, self.resumed_totals = state.get("step", 0), json.loads(state.get("totals", "{}"))
        return state["epoch"] + 1


def write_log(rows: list[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def plot_curves(log_rows: list[dict], path: Path) -> None:
    """Training and validation loss, and each validation AUC, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in log_rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, [r["train_loss"] for r in log_rows], "o-", label="train loss")
    if any("val_loss" in r for r in log_rows):
        a.plot(epochs, [r.get("val_loss") for r in log_rows], "o-", label="val loss")
    a.set(xlabel="epoch", title="loss")
    a.legend()
    keys = [k for k in log_rows[0] if k.startswith("val_auc") and any(r.get(k) is not None for r in log_rows)]
    for key in keys:
        label = f"{key[len('val_auc_vs_fakes_'):]}: its reals vs every fake" if "_vs_fakes_" in key else key[4:]
        b.plot(epochs, [r.get(key) for r in log_rows], "o-", label=label)
    b.set(xlabel="epoch", title="validation AUC (frame level)")
    b.legend()
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def start(seed: int, device: str = "auto", threads: int = 0) -> tuple[torch.device, distributed.World]:
    """Seeds, device, torchrun's process group (a world of one without torchrun) and CPU threads."""
    import random

    from ..core.device import pick_device

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    place = pick_device(device)
    world = distributed.init(place.type)
    if place.type == "cuda":
        place = torch.device("cuda", world.local_rank)
        torch.backends.cudnn.benchmark = True
    if threads:
        torch.set_num_threads(threads)
    return place, world
