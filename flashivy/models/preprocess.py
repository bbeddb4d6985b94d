"""The one preprocessing a face crop gets before any model sees it, in training and on both backends.

RGB uint8 crops are scaled to [0, 1] and normalised with the checkpoint's own ``mean`` and ``std``
(ImageNet's for the shipped models). ``to_tensor`` is the same arithmetic for a torch DataLoader."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def normalise(crops: Sequence[np.ndarray], mean, std) -> np.ndarray:
    """RGB uint8 crops (H, W, 3), all one size -> float32 batch (N, 3, H, W)."""
    x = np.stack(crops).astype(np.float32) * np.float32(1 / 255)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def to_tensor(img: np.ndarray, mean, std):
    """RGB uint8 (H, W, 3) -> normalised float tensor (3, H, W): :func:`normalise` of one crop."""
    import torch

    return torch.from_numpy(normalise([img], mean, std)[0])
