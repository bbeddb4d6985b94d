"""Class activation maps without torch: computed inside the ONNX export, finished in NumPy.

For the shipped architectures the last convolutional features go through a global
average pool and one linear layer, so Grad-CAM of a head's logit equals its class
activation map: ``relu(sum_c w_c F_c)`` with ``w`` that head's classifier weights
(the gradient of the logit with respect to ``F_c`` is ``w_c / (h w)`` everywhere).
The export adds one such map per head as an output; :func:`heatmap` scales and
resizes it as pytorch-grad-cam does, so the light path and the torch path draw the
same picture (tested: correlation >= 0.99).
"""
from __future__ import annotations

import numpy as np

CAM_PREFIX = "cam_"
LOGIT_PREFIX = "logit_"
ROWS_INPUT = "rows"  # which images of the batch the heads after the first run on


def head_layers(model, meta: dict) -> dict:
    """Per kind: (the feature layer its CAM is read from, its final linear layer)."""
    from ..models.branches import KindHeads
    from ..models.kinds import MANIPULATED
    from ..models.registry import get_layer, model_spec

    layer = model_spec(meta["architecture"]).cam_layer
    if not isinstance(model, KindHeads):
        return {MANIPULATED: (get_layer(model, layer), model.get_classifier())}
    out = {MANIPULATED: (get_layer(model, model.cam_layer(MANIPULATED, layer)), model.base.get_classifier())}
    for kind, branch in model.branches.items():
        out[kind] = (get_layer(model, model.cam_layer(kind, layer)), branch.classifier)
    return out


def with_cams(model, meta: dict):
    """``model`` wrapped for export: inputs ``(x[, rows])``, outputs each head's logits then its unnormalised
    CAM (N_k, h, w); the face-swap head runs on all of ``x``, the others (a model with several) on ``rows``.
    Returns the wrapper, its input names and its output names (``logit_<kind>``..., ``cam_<kind>``...)."""
    import torch
    from torch import nn

    from ..models.branches import KindHeads

    layers = head_layers(model, meta)
    several = isinstance(model, KindHeads)

    class WithCams(nn.Module):
        def __init__(self):
            super().__init__()
            self.model, self.features = model, {}
            for kind, (layer, _) in layers.items():
                layer.register_forward_hook(lambda _m, _i, out, kind=kind: self.features.__setitem__(kind, out))

        def forward(self, x, rows=None):
            logits = self.model.heads(x, rows) if several else [self.model(x)]
            cams = [torch.relu(torch.einsum("nchw,c->nhw", self.features[kind], linear.weight[0]))
                    for kind, (_, linear) in layers.items()]
            return (*logits, *cams)

    inputs = ["x", ROWS_INPUT] if several else ["x"]
    return WithCams().eval(), inputs, [LOGIT_PREFIX + k for k in layers] + [CAM_PREFIX + k for k in layers]


def heatmap(cam: np.ndarray, size: int) -> np.ndarray:
    """A raw CAM (h, w) scaled to [0, 1] and resized to ``size`` (pytorch-grad-cam's scaling, twice as it does)."""
    import cv2

    def scale(img):
        img = img - img.min()
        return img / (1e-7 + img.max())

    return scale(cv2.resize(np.float32(scale(np.maximum(cam, 0))), (size, size)))


def overlay(crop: np.ndarray, heat: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """The crop (RGB uint8) under a JET-coloured heatmap (red: evidence of a fake)."""
    import cv2

    colour = cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET)[..., ::-1].astype(np.float32) / 255
    mixed = (1 - weight) * colour + weight * crop.astype(np.float32) / 255
    return np.uint8(255 * mixed / mixed.max())
