"""Checkpoints: safetensors weights plus JSON metadata. Loading never unpickles code.

The metadata says everything inference needs: architecture, input size,
normalisation, crop detector and margin, class order, decision threshold,
temperature, what it was trained on and how it scored.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.atomic import atomic_path
from ..core.errors import ConfigError
from ..core.paths import WEIGHTS_DIR, verify_if_shipped

if TYPE_CHECKING:
    from torch import nn

META_KEY = "flashivy"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "flashivy_default.safetensors"  # package data


def save_checkpoint(path: str | Path, model: "nn.Module", meta: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``meta`` (JSON-serialisable) atomically.

    Floating-point tensors under the prefixes in ``meta["stored_half"]`` are stored as float16 (half the
    bytes; loading casts them back to the model's float32)."""
    from safetensors.torch import save_file

    path = Path(path)
    half = tuple(meta.get("stored_half", ()))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state = {k: v.half() if half and k.startswith(half) and v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        raw = (fh.metadata() or {}).get(META_KEY)
    if raw is None:
        raise ConfigError(f"{path}: not a flashivy checkpoint (no metadata)")
    return json.loads(raw)


def load_checkpoint(path: str | Path | None = None, device: str = "cpu") -> tuple["nn.Module", dict[str, Any]]:
    """Model (in eval mode) and metadata from a checkpoint; the shipped default when ``path`` is None."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .branches import build
    from .registry import create_model

    path = Path(path) if path is not None else DEFAULT_CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"{path}: no such checkpoint")
    verify_if_shipped(path)
    try:
        meta = read_metadata(path)
        state = load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a safetensors checkpoint ({str(exc).splitlines()[0]}); "
                        "pickled .pt/.pth files are refused because they can run code") from None
    model = build(meta, create_model(meta["architecture"], pretrained=False))
    model.load_state_dict(state)
    return model.to(device).eval(), meta
