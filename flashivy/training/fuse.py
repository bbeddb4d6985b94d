"""Fuse a second, whole detector into a checkpoint as a head of its own.

A model trained on self-blended faces alone (it never saw a fake) finds the blending traces that swaps and
re-enactments leave; the fake-trained face-swap model finds what its training fakes had. Fused, each keeps
its weights: the member becomes a head of a kind of its own (``blended``) with a whole network of the same
architecture beside the shared trunk (:class:`flashivy.models.branches.KindHeads`, ``whole``), calibrated
on validation faces the member did not train on, and the verdict takes the most likely kind, i.e. the max
of the calibrated probabilities. Where the member runs in a video is the detector's choice (like every head
after the first: every k-th sampled frame).

The faces it is calibrated on are recorded in ``members[kind]["calibration"]["data"]``: the protocol counts
them as seen (:func:`flashivy.training.protocol.seen_by`), so a column's fused model must be calibrated
without the column's held-back data.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..core.errors import ConfigError
from ..core.paths import sha256
from ..datasets.samples import (
    Sample,
    cap_per_source,
    describe,
    load_source,
    read_splits,
)
from ..models.branches import KindHeads
from ..models.calibration import calibrated_probs, capped_bias, fit_calibration
from ..models.checkpoint import load_checkpoint, save_checkpoint
from ..models.kinds import BLENDED, GENERATED, heads_of, kinds_of

# What member and base must share, or one crop could not feed both.
SAME = ("architecture", "input_size", "mean", "std", "crop")


def calibration_faces(sources: dict[str, str], splits: str | Path, real_sources: tuple[str, ...] = (),
                      exclude_methods: tuple[str, ...] = (), per_source: int = 1500, seed: int = 0,
                      aliases: dict[str, str] | None = None) -> list[Sample]:
    """The validation faces of a run's ``splits``: of ``real_sources`` their reals only, no fake of
    ``exclude_methods``, at most ``per_source`` of each source."""
    where = read_splits(splits, aliases)
    faces = [s for name, path in sorted(sources.items()) for s in load_source(path, name)
             if where.get(f"{s.source}:{s.group}") == "val"
             and not (s.label == 1 and (s.source in real_sources or s.method in exclude_methods))]
    if len({s.label for s in faces}) < 2:
        raise ConfigError(f"{splits}: its validation part of these sources has no real or no fake face")
    return cap_per_source(faces, per_source, seed, whole_groups=False)


def held_out_faces(sources: dict[str, str], splits_files: list[str | Path], real_sources: tuple[str, ...] = (),
                   aliases: dict[str, str] | None = None) -> list[Sample]:
    """The faces that none of ``splits_files`` put in train or val (no run behind the fused model trained or
    chose anything on them); of ``real_sources`` their reals only."""
    seen = {key for path in splits_files for key, part in read_splits(path, aliases).items() if part != "test"}
    faces = [s for name, path in sorted(sources.items()) for s in load_source(path, name)
             if f"{s.source}:{s.group}" not in seen and not (s.label == 1 and s.source in real_sources)]
    if not faces:
        raise ConfigError("every face of these sources was trained or validated on by one of the runs")
    return faces


def face_swap_side(kinds: list[str], probs: np.ndarray) -> np.ndarray:
    """The fake probability of every kind but the generated one (what a swap or re-enactment raises): the
    verdict on a face that is not generated."""
    return probs[:, [k for k, kind in enumerate(kinds) if kind != GENERATED]].max(axis=1)


def record_tests(path: str | Path, faces: list[Sample], batch_size: int = 64) -> list[dict]:
    """Score held-out ``faces`` with the fused checkpoint at ``path`` and put the face-swap side's figures
    (per source and method, by video where there are videos) in its ``tested_on``, in place of the base's
    face-swap rows (measured on the base's own held-out groups, without the member); the other kinds' rows
    stay. Returns the new rows."""
    from tqdm import tqdm

    from ..inference.detector import Detector
    from ..inference.reading import tested_on_rows
    from ..media.images import load_image
    from .train import probs_report

    detector = Detector.from_checkpoint(path, backend="torch", batch_size=batch_size)
    probs = np.concatenate([
        detector.kind_probabilities([load_image(s.path) for s in faces[i:i + batch_size]])
        for i in tqdm(range(0, len(faces), batch_size), desc="score held-out", file=sys.stderr, dynamic_ncols=True)])
    report = probs_report(faces, face_swap_side(detector.kinds, probs), detector.threshold)
    rows = [dict(r, heads=[k for k in detector.kinds if k != GENERATED]) for r in tested_on_rows(report)]
    model, meta = load_checkpoint(path)
    meta["tested_on"] = rows + [r for r in meta.get("tested_on", []) if r.get("kind")]
    save_checkpoint(path, model, meta)
    return rows


def fuse(base_path: str | Path, member_path: str | Path, faces: list[Sample], out: str | Path,
         kind: str = BLENDED, max_reals_called: float = 0.0, batch_size: int = 64) -> dict:
    """Write ``out``: the base checkpoint with ``member_path``'s model as the head ``kind``, its temperature and
    bias fitted on ``faces`` (then, with ``max_reals_called``, lowered until at most that share of each
    source's real faces reaches 0.5). Returns the member's calibration record."""
    from .train_kind import branch_logits

    base, meta = load_checkpoint(base_path)
    member, member_meta = load_checkpoint(member_path)
    if isinstance(member, KindHeads):
        raise ConfigError(f"{member_path}: has heads of its own; fuse a single model")
    if differ := [k for k in SAME if meta.get(k) != member_meta.get(k)]:
        raise ConfigError(f"{member_path}: differs from {base_path} in {', '.join(differ)}; both must read the "
                          "same crop")
    if kind in kinds_of(meta):
        raise ConfigError(f"{base_path}: has a {kind} head already")
    heads = isinstance(base, KindHeads)
    state = base.state_dict() if heads else {f"base.{k}": v for k, v in base.state_dict().items()}
    extra, whole = kinds_of(meta)[1:] + [kind], [*meta.get("whole_heads", []), kind]
    # a single model has no trunk to share: where it is cut does not change what it computes
    branch_at = int(meta.get("branch_at", 1))
    model = KindHeads(base.base if heads else base, branch_at, extra, tuple(whole))
    model.load_state_dict(state | {f"branches.{kind}.{k}": v for k, v in member.state_dict().items()})
    model.eval()

    logits = branch_logits(model, kind, faces, meta, batch_size, desc=f"calibrate {kind}")
    labels, sources = np.array([s.label for s in faces]), np.array([s.source for s in faces])
    temperature, fitted = fit_calibration(logits, labels)
    reals = labels == 0
    bias = capped_bias(logits[reals], temperature, fitted, max_reals_called, groups=sources[reals])
    called = calibrated_probs(logits, temperature, bias) >= 0.5
    calibration = {"temperature": temperature, "bias": bias, "bias_fitted": fitted,
                   "max_reals_called": max_reals_called, "data": describe(faces),
                   "reals_called": {str(src): float(called[reals & (sources == src)].mean())
                                    for src in sorted(set(sources[reals]))}}
    meta = dict(meta, branch_at=branch_at, whole_heads=whole,
                heads=[*heads_of(meta), {"kind": kind, "temperature": temperature, "bias": bias}],
                stored_half=sorted(set(meta.get("stored_half", [])) | {"branches."}),
                members={**meta.get("members", {}), kind: {
                    "sha256": sha256(member_path), "recipe": member_meta.get("recipe", {}),
                    "data": member_meta.get("data", {}), "calibration": calibration}})
    save_checkpoint(out, model, meta)
    return calibration
