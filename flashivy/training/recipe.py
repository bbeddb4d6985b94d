"""Training recipes: the dataclasses behind ``configs/*.json``, loadable without torch.

``TrainConfig`` trains a face-swap detector (``flashivy train``); ``KindConfig``
adds a head for another kind of fake to one (``flashivy train-kind``). A
checkpoint records the recipe it was trained with, and the shipped ones equal
their file in ``configs/``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..core.errors import ConfigError, require_file
from ..models.kinds import GENERATED

# Keys that say where and how fast a run went, not what it learnt: a checkpoint's recorded recipe may differ
# from its file in configs/ on these only (sources: the same names, wherever the crops sat on that machine).
# time_limit_min is one: a long run is trained in chunks, each resumed with the time its session has (the
# epochs it finished are in its log).
# leave_one_out is one too: it names the fold reports whose figures a head's record quotes, not what it learnt.
RUN_ONLY_KEYS = ("out", "workers", "threads", "device", "record_seen", "time_limit_min", "leave_one_out")


def same_recipe(recorded: dict, recipe) -> list[str]:
    """The keys on which a checkpoint's recorded recipe differs from ``recipe`` (empty: it is that recipe).

    Keys a newer flashivy added and the record lacks count at their default."""
    defaults = asdict(type(recipe)())
    wanted = asdict(recipe)
    differ = []
    for key, value in wanted.items():
        if key in RUN_ONLY_KEYS:
            continue
        got = recorded.get(key, defaults[key])
        if key in ("sources", "kind_sources", "other_sources"):
            got, value = sorted(got), sorted(value)
        if got != value:
            differ.append(key)
    return differ


def _read_recipe(cls, path: str | Path, overrides: dict):
    """A recipe file, unknown keys refused, non-None ``overrides`` applied."""
    require_file(path, ConfigError)
    try:
        data = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON recipe ({exc})") from None
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known - {"description"}
    if unknown:
        raise ConfigError(f"{path}: unknown recipe keys {sorted(unknown)}")
    recipe = cls(**{k: v for k, v in data.items() if k in known})
    return replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class TrainConfig:
    """A training recipe. ``configs/*.json`` hold one per shipped model."""

    model: str = "efficientnet_lite0"
    sources: dict[str, str | list[str]] = field(default_factory=dict)  # name -> crop folder(s) or index.csv
    group_fraction: dict[str, float] = field(default_factory=dict)  # name -> share of its groups to use
    official_splits: dict[str, str] = field(default_factory=dict)  # name -> folder of FF++ {train,val,test}.json
    out: str = "runs/default"
    pretrained: bool = True
    epochs: int = 10
    samples_per_epoch: int = 16384
    batch_size: int = 64
    lr: float = 1e-3
    backbone_lr_scale: float = 0.3
    weight_decay: float = 1e-4
    warmup_epochs: float = 0.5
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    patience: int = 3
    seed: int = 0
    workers: int = 2
    threads: int = 0  # CPU threads for torch; 0 = all cores
    amp: bool = True
    device: str = "auto"
    max_val_per_source: int = 4000  # cap validation cost per epoch
    time_limit_min: float = 0  # stop starting new epochs past this budget (0 = none)
    record_seen: bool = False  # write seen.json: the sample indices each rank trained on (audits, tests)
    self_blend: float = 0.0  # chance a real training crop becomes a self-blended pseudo-fake (needs landmarks)
    reals_only: bool = False  # train on real crops (+ pseudo-fakes) only; val and test keep the real fakes
    # draw batches in pairs: a real face with its self-blended twin, a fake with a real face of its own video
    # (see data.Partners; needs landmarks, and self_blend 0)
    pairs: bool = False
    # in pairs, the share of real faces paired with their self-blended twin; the others go with a fake made
    # from their video (more real fakes per batch: at 1, a quarter of every batch is real fakes, at 0.5 3/8)
    pair_twin_share: float = 1.0
    # Face X-ray style second target: the weight of the blending-boundary loss of self-blended faces, and the
    # layer whose output map predicts it (a training-only head; the saved model is the classifier alone)
    boundary_weight: float = 0.0
    boundary_layer: str = "blocks.4"
    # sources whose real crops only are used, in every split: their fakes are another kind's (FFHQ photos
    # from synthetic_faces teach the face-swap head that sharp portrait photos are real)
    real_sources: list[str] = field(default_factory=list)
    init: str = ""  # fine-tune: start from this checkpoint's weights instead of ImageNet's
    splits: str = ""  # a previous run's splits.json: its groups keep their split, new groups are split by hash
    freeze: list[str] = field(default_factory=list)  # parameter-name prefixes left untrained (e.g. "blocks.0")
    exclude_methods: list[str] = field(default_factory=list)  # manipulation methods left out of train and val
    keep: str = "best"  # the epoch saved as best.safetensors: "best" by validation AUC, or "last" (a fixed budget:
    # protocol runs, where in-distribution validation must not choose what is scored on unseen data)

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "TrainConfig":
        return _read_recipe(cls, path, overrides)


@dataclass
class KindConfig:
    """A recipe for one kind head (``configs/*.json``)."""

    base: str = "flashivy/weights/flashivy_default.safetensors"
    base_splits: str = ""  # the base run's splits.json (its test faces stay test faces here)
    kind: str = GENERATED
    kind_sources: dict[str, str] = field(default_factory=dict)
    other_sources: dict[str, str] = field(default_factory=dict)
    # generators (the ``method`` of the kind's fakes) left out of train and validation, every image of theirs
    # in test: a leave-one-generator-out run, whose figure on them says what to expect of a generator not seen
    unseen_methods: list[str] = field(default_factory=list)
    # report.json of such runs: their unseen-generator figures go into this head's record and reading text
    leave_one_out: list[str] = field(default_factory=list)
    branch_at: int = 5
    # start the branch from this checkpoint's trained branch of the same kind instead of a copy of the base's
    # layers: carries a head over to a base fine-tuned with the trunk frozen (the trunks must be equal)
    init: str = ""
    kind_share: float = 0.75  # share of each epoch drawn from kind_sources (the rest: other_sources)
    # operating point: at most this share of validation's real photos (the kind's sources) may reach 0.5; where
    # calibration lets more through, the head's bias is lowered until they do not (0: calibration alone)
    max_photos_called: float = 0.0
    out: str = "runs/generated"
    epochs: int = 6
    samples_per_epoch: int = 4096
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    workers: int = 2
    threads: int = 0
    time_limit_min: float = 0
    max_val_per_source: int = 1500

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> "KindConfig":
        return _read_recipe(cls, path, overrides)

