"""A second training target: where the blending boundary of a self-blended face is.

After Li et al., "Face X-ray for More General Face Forgery Detection" (CVPR 2020):
a model that must also draw the boundary along which a face was blended in
learns the trace every face swap leaves, not the fingerprints of one method.
A self-blended pseudo-fake knows its boundary exactly (its blend mask); a real
face has none; a real fake's mask is unknown, so it teaches the class only.

The boundary map is predicted by a 1x1 convolution on one intermediate layer
during training only: the saved model is the plain classifier, unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.errors import ConfigError

UNKNOWN = -1.0  # target value of a face whose boundary is not known (a real fake)
PRIOR_LOGIT = -2.944  # log(0.05 / 0.95)


def boundary_map(mask: np.ndarray, size: int) -> np.ndarray:
    """Face X-ray's boundary ``4 m (1 - m)`` of a blend mask scaled to peak 1, averaged down to (size, size)."""
    import cv2

    peak = float(mask.max())
    m = mask / peak if peak > 0 else mask
    return cv2.resize((4 * m * (1 - m)).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


class BoundaryNet(nn.Module):
    """The classifier plus a boundary head on ``layer``'s output: ``forward`` gives (logits, boundary logits)."""

    def __init__(self, model: nn.Module, layer: str, input_size: int):
        super().__init__()
        self.model = model
        try:
            target = model.get_submodule(layer)
        except AttributeError:
            raise ConfigError(f"boundary_layer {layer!r} is not a layer of the model") from None
        _, channels, self.map_size, _ = _output_shape(model, target, input_size)  # the side of the target maps
        self.head = nn.Conv2d(channels, 1, kernel_size=1)
        # Most of a map is no boundary: start the head at that prior (p = 0.05), or a fresh bias spends the
        # run's first thousands of steps learning it, and its gradient pulls the backbone meanwhile.
        nn.init.constant_(self.head.bias, PRIOR_LOGIT)
        self._features: torch.Tensor | None = None
        target.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output) -> None:
        if torch.is_grad_enabled():  # a training step; validation scores the bare model without gradients
            self._features = output

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        features, self._features = self._features, None  # no reference kept past the step
        return logits, self.head(features)


@torch.no_grad()
def _output_shape(model: nn.Module, layer: nn.Module, input_size: int) -> tuple[int, ...]:
    """Shape of ``layer``'s output for one square input of ``input_size`` pixels."""
    shapes = []
    handle = layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
    was_training = model.training
    model.eval()  # a probe must not move BatchNorm statistics
    try:
        model(torch.zeros(1, 3, input_size, input_size, device=next(model.parameters()).device))
    finally:
        handle.remove()
        model.train(was_training)
    return shapes[0]


def boundary_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-pixel BCE over the faces whose boundary is known (0 when none is in the batch)."""
    known = target[:, 0, 0, 0] != UNKNOWN
    if not known.any():
        return pred.sum() * 0.0  # keeps the head in the graph (DDP expects every parameter to get a gradient)
    return nn.functional.binary_cross_entropy_with_logits(pred[known].float(), target[known])
