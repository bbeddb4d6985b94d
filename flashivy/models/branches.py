"""The torch side of :mod:`flashivy.models.kinds`: a shared trunk with one branch per further kind of fake."""
from __future__ import annotations

import copy

import torch
from torch import nn

from .kinds import MANIPULATED, kinds_of


class Branch(nn.Module):
    """The later layers of an EfficientNet-style model: blocks from ``branch_at``, head conv, pool, linear;
    at ``branch_at`` 0 the stem too, i.e. a whole model of the same architecture that reads the image."""

    def __init__(self, model: nn.Module, branch_at: int):
        super().__init__()
        self.whole = branch_at == 0
        if self.whole:
            self.conv_stem, self.bn1 = copy.deepcopy(model.conv_stem), copy.deepcopy(model.bn1)
        self.blocks = copy.deepcopy(model.blocks[branch_at:])
        self.conv_head = copy.deepcopy(model.conv_head)
        self.bn2 = copy.deepcopy(model.bn2)
        self.global_pool = copy.deepcopy(model.global_pool)
        self.classifier = copy.deepcopy(model.classifier)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from the trunk's features at ``branch_at`` (from the image for a whole model)."""
        if self.whole:
            h = self.bn1(self.conv_stem(h))
        return self.classifier(self.global_pool(self.bn2(self.conv_head(self.blocks(h)))))


class KindHeads(nn.Module):
    """``base`` (the face-swap model) plus one branch per further kind; output (N, kinds) logits.

    The kinds in ``whole`` get a whole model of the base's architecture instead (a second detector with
    weights of its own, e.g. one trained on self-blended faces only): it shares nothing, so it costs a
    model per face where it runs, and its weights are set after construction."""

    def __init__(self, base: nn.Module, branch_at: int, extra_kinds: list[str], whole: tuple[str, ...] = ()):
        super().__init__()
        if not hasattr(base, "blocks") or not 0 < branch_at < len(base.blocks):
            raise ValueError(f"cannot branch this model at block {branch_at}")
        if unknown := set(whole) - set(extra_kinds):
            raise ValueError(f"whole-model kinds {sorted(unknown)} are not among the heads")
        self.base, self.branch_at = base, branch_at
        self.kinds = [MANIPULATED, *extra_kinds]
        self.branches = nn.ModuleDict({kind: Branch(base, 0 if kind in whole else branch_at) for kind in extra_kinds})

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.blocks[:self.branch_at](self.base.bn1(self.base.conv_stem(x)))

    def trunk_state(self) -> dict[str, torch.Tensor]:
        """The weights and statistics every head shares (stem and blocks before ``branch_at``)."""
        parts = {"conv_stem": self.base.conv_stem, "bn1": self.base.bn1,
                 **{f"blocks.{i}": self.base.blocks[i] for i in range(self.branch_at)}}
        return {f"{name}.{k}": v for name, part in parts.items() for k, v in part.state_dict().items()}

    def heads(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each kind's logits, (N, 1) for the face-swap head and (len(rows), 1) for the others, which run
        on the images at ``rows`` only (all when None): a video needs them on a few frames per person."""
        h = self.trunk(x)
        base = self.base
        manipulated = base.classifier(base.global_pool(base.bn2(base.conv_head(base.blocks[self.branch_at:](h)))))
        if rows is not None:
            x, h = x.index_select(0, rows), h.index_select(0, rows)
        return [manipulated, *(branch(x if branch.whole else h) for branch in self.branches.values())]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.heads(x), dim=1)

    def cam_layer(self, kind: str, base_layer: str) -> str:
        """Dotted name of the layer whose activations explain ``kind``."""
        return f"base.{base_layer}" if kind == MANIPULATED else f"branches.{kind}.{base_layer}"


def face_swap_part(model: nn.Module, meta: dict) -> tuple[nn.Module, dict]:
    """The face-swap model inside a checkpoint with kind heads, and the metadata it had before they were added:
    what a new head of a kind is trained on when it replaces the one the checkpoint has."""
    if not isinstance(model, KindHeads):
        return model, meta
    extra = set(model.kinds[1:])
    meta = {k: v for k, v in meta.items()
            if k not in ("branch_at", "stored_half", "kind_training", "base_sha256", "whole_heads", "members")}
    meta["heads"] = meta["heads"][:1]
    meta["tested_on"] = [r for r in meta.get("tested_on", []) if r.get("method") not in extra
                         and r.get("kind") not in extra]
    return model.base, meta


def build(meta: dict, base: nn.Module) -> nn.Module:
    """The model a checkpoint's metadata describes, around its base architecture."""
    extra = kinds_of(meta)[1:]
    return KindHeads(base, int(meta["branch_at"]), extra, tuple(meta.get("whole_heads", ()))) if extra else base
