"""The ONNX export the core install scores with: the checkpoint's model with each head's CAM as an extra
output (:mod:`flashivy.inference.cams`), tagged with the checkpoint's metadata and SHA-256, so that
:func:`flashivy.inference.backends.open_scorer` uses it only for the checkpoint it came from. Needs torch
and onnx (the ``train`` extra); ``flashivy export`` runs it, and ``make install`` for the shipped model."""
from __future__ import annotations

import json
from pathlib import Path

from ..core.atomic import atomic_path
from ..core.paths import sha256
from ..models.checkpoint import DEFAULT_CHECKPOINT, META_KEY, load_checkpoint
from ..models.kinds import kinds_of
from .backends import SOURCE_KEY, cached_onnx_path, onnx_path
from .cams import CAM_PREFIX, LOGIT_PREFIX, ROWS_INPUT, with_cams


def export_onnx(checkpoint: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Export a checkpoint to ONNX (batch size dynamic), tagged with its metadata and source hash."""
    import os

    import onnx
    import torch

    checkpoint = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    if out is None:
        writable = os.access(checkpoint.resolve().parent, os.W_OK)
        out = onnx_path(checkpoint) if writable else cached_onnx_path(checkpoint, sha256(checkpoint))
    out = Path(out)
    model, meta = load_checkpoint(checkpoint, device="cpu")
    size = meta["input_size"]
    net, inputs, names = with_cams(model, meta)  # heatmaps on the light path, no torch needed there
    example = (torch.zeros(2, 3, size, size), torch.tensor([1]))[:len(inputs)]
    first = kinds_of(meta)[0]  # its logit and CAM cover the batch; the later heads' cover the chosen rows
    batch_sized = {LOGIT_PREFIX + first, CAM_PREFIX + first}
    axes = {"x": {0: "batch"}, ROWS_INPUT: {0: "rows"},
            **{n: {0: "batch" if n in batch_sized else "rows"} for n in names}}
    with atomic_path(out) as tmp:
        torch.onnx.export(net, example, str(tmp), input_names=inputs, output_names=names,
                          dynamic_axes={k: v for k, v in axes.items() if k in inputs + names},
                          opset_version=17, dynamo=False)
        proto = onnx.load(str(tmp))
        for key, value in ((META_KEY, json.dumps(meta, sort_keys=True)), (SOURCE_KEY, sha256(checkpoint))):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
    return out
