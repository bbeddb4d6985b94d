"""Inference backends: one checkpoint, scored by ONNX Runtime or by PyTorch.

The safetensors checkpoint is the source of truth. ``export.export_onnx`` writes a
sibling ``.onnx`` file that records the SHA-256 of the checkpoint it came
from; on the CPU the ONNX Runtime path is used when that file matches, because
it starts in under a second (no torch/timm import) and scores faster. PyTorch
remains the path for GPUs, training and Grad-CAM.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from ..core.device import resolve_device
from ..core.errors import ConfigError
from ..core.paths import sha256

BACKENDS = ("auto", "onnx", "torch")
SOURCE_KEY = "source_sha256"
EXPORT_FORMAT = 2  # 2: logit_<kind> outputs, the later heads on chosen rows (flashivy 0.3)


class Scorer(ABC):
    """Maps a normalised batch (N, 3, H, W) to one logit per image and head (see :mod:`flashivy.models.kinds`)."""

    name: str = ""

    def logits(self, batch: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Raw logits, shape (N, heads), float32; the heads after the first on ``rows`` only (indices into the
        batch; all when None) and NaN on the other rows, whichever backend scored them."""
        out = self._logits(batch, rows)
        if rows is not None:
            skipped = np.ones(len(batch), bool)
            skipped[rows] = False
            out[skipped, 1:] = np.nan
        return out

    @abstractmethod
    def _logits(self, batch: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """Raw logits (N, heads); the heads after the first must be right on ``rows`` (all when None) and may
        be skipped elsewhere."""


class TorchScorer(Scorer):
    name = "torch"

    def __init__(self, model, device):
        import torch

        self.torch, self.device = torch, torch.device(device)
        # channels_last runs depthwise convolutions ~2x faster on the CPU.
        self.model = model.to(self.device).to(memory_format=torch.channels_last).eval()

    def _logits(self, batch: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        torch = self.torch  # every head on every row: the GPU path has no reason to skip any
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            return self.model(x).float().reshape(len(batch), -1).cpu().numpy()


class OnnxScorer(Scorer):
    name = "onnx"

    def __init__(self, path: Path):
        import onnxruntime as ort

        from .cams import CAM_PREFIX, LOGIT_PREFIX, ROWS_INPUT

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.rows_input = ROWS_INPUT if ROWS_INPUT in [i.name for i in self.session.get_inputs()] else None
        self.metadata: dict[str, str] = self.session.get_modelmeta().custom_metadata_map
        outputs = [o.name for o in self.session.get_outputs()]
        self.logit_outputs = [name for name in outputs if name.startswith(LOGIT_PREFIX)]
        self.cam_outputs = [name for name in outputs if name.startswith(CAM_PREFIX)]
        if not self.logit_outputs:
            raise ValueError(f"{path}: an export of an older flashivy (no {LOGIT_PREFIX}<kind> outputs)")

    def _run_on_rows(self, names: list[str], batch: np.ndarray, rows: np.ndarray | None) -> list[np.ndarray]:
        """``names`` on the batch: the first output covers every image, the later heads' outputs only ``rows``
        (all when None), scattered back to batch size with NaN on the other images."""
        at = np.arange(len(batch)) if rows is None else np.asarray(rows, np.int64)
        # the graph wants at least one row for its later heads: an empty choice runs one and drops it
        feed = {self.input: batch,
                **({self.rows_input: at if len(at) else np.zeros(1, np.int64)} if self.rows_input else {})}
        first, *later = self.session.run(names, feed)
        outputs = [first]
        for values in later:
            outputs.append(np.full((len(batch), *values.shape[1:]), np.nan, np.float32))
            outputs[-1][at] = values[:len(at)]
        return outputs

    def _logits(self, batch: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        outputs = self._run_on_rows(self.logit_outputs, batch, rows)
        return np.stack([o.reshape(-1) for o in outputs], axis=1).astype(np.float32)

    def cams(self, batch: np.ndarray, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each head's raw class activation map, kind -> (N, h, w) (see :mod:`flashivy.inference.cams`); the heads after
        the first on ``rows`` only (all when None; NaN elsewhere), as in :meth:`logits`."""
        from .cams import CAM_PREFIX

        maps = self._run_on_rows(self.cam_outputs, batch, rows)
        return {name[len(CAM_PREFIX):]: m for name, m in zip(self.cam_outputs, maps)}


def onnx_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's ONNX export lives: beside it (a wheel ships the default's there)."""
    return Path(checkpoint).with_suffix(".onnx")


def cached_onnx_path(checkpoint: str | Path, digest: str) -> Path:
    """Where the export goes when the checkpoint's folder is not writable (an installed package): the
    user's cache, named by the checkpoint's hash so another checkpoint never picks it up."""
    import os

    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flashivy"
    return root / f"{Path(checkpoint).stem}-{digest[:16]}-f{EXPORT_FORMAT}.onnx"


def _matching_onnx(checkpoint: Path) -> tuple[OnnxScorer | None, str]:
    """The ONNX export of exactly this checkpoint (beside it, or in the user's cache), else why not."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, "onnxruntime is not installed"
    from ..core.paths import verify_if_shipped

    digest = sha256(checkpoint)
    verify_if_shipped(checkpoint, digest)  # its metadata (threshold, temperature) is still read from it
    why = f"no {onnx_path(checkpoint).name} beside it (run: flashivy export {checkpoint})"
    for path in (onnx_path(checkpoint), cached_onnx_path(checkpoint, digest)):
        if not path.is_file():
            continue
        try:
            scorer = OnnxScorer(path)
        except Exception:  # noqa: BLE001 - an unreadable export is simply not used
            why = f"{path.name} cannot be read (re-run: flashivy export {checkpoint})"
            continue
        if scorer.metadata.get(SOURCE_KEY) == digest:
            return scorer, ""
        why = f"{path.name} was exported from another checkpoint (re-run: flashivy export {checkpoint})"
    return None, why


def open_scorer(checkpoint: Path, device: str, backend: str = "auto") -> Scorer:
    """A scorer for ``checkpoint``: ``auto`` takes ONNX Runtime on the CPU when a matching export
    exists, PyTorch otherwise."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    device = resolve_device(device)
    if backend != "torch" and device == "cpu":
        scorer, why = _matching_onnx(checkpoint)
        if scorer is not None:
            return scorer
        if backend == "onnx":
            raise ConfigError(f"{checkpoint}: cannot use ONNX Runtime: {why}")
        from importlib.util import find_spec

        if find_spec("torch") is None:  # a core install: ONNX Runtime is its only way to score
            raise ConfigError(f"{checkpoint.name} has no ONNX export on this install (a wheel from `make wheel` "
                            "carries one); make it once with the 'train' extra: pip install 'flashivy[train]', "
                            f"then flashivy export {checkpoint}")
    elif backend == "onnx":
        raise ConfigError("the ONNX backend runs on the CPU only; use --device cpu or --backend torch")
    from ..models.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint, device=device)
    return TorchScorer(model, device)
