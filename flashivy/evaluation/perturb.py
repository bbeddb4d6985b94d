"""What users' files go through, as named, graded perturbations for robustness evaluation.

``parse("jpeg=50,downscale")`` -> the perturbations to run; each is a pure
function on an RGB uint8 frame, applied before the whole pipeline (face
detection included). Noise is seeded by the frame's content, so a run is
repeatable.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..core.errors import ConfigError
from ..media.images import gaussian_blur, gaussian_noise, jpeg, rescale

SEVERITIES: dict[str, tuple[float, ...]] = {
    "jpeg": (90, 70, 50, 30),  # quality
    "blur": (1, 2, 3),  # Gaussian sigma, pixels
    "downscale": (2, 4),  # factor: down to 1/f and back
    "noise": (5, 10, 20),  # Gaussian sigma, grey levels
}


@dataclass(frozen=True)
class Perturbation:
    kind: str
    level: float

    @property
    def name(self) -> str:
        return f"{self.kind}={self.level:g}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return _APPLY[self.kind](rgb, self.level)


def _noise(rgb: np.ndarray, sigma: float) -> np.ndarray:
    seed = zlib.crc32(np.ascontiguousarray(rgb[::17, ::17]).tobytes())
    return gaussian_noise(rgb, sigma, np.random.default_rng(seed))


_APPLY: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "jpeg": lambda rgb, q: jpeg(rgb, int(q)),
    "blur": gaussian_blur,
    "downscale": lambda rgb, f: rescale(rgb, 1 / f),
    "noise": _noise,
}


def parse(spec: str) -> list[Perturbation]:
    """``all``, or comma-separated ``kind`` (every severity) / ``kind=level`` items."""
    items = list(SEVERITIES) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    out = []
    for item in items:
        kind, _, level = item.partition("=")
        if kind not in SEVERITIES:
            raise ConfigError(f"unknown perturbation {kind!r}; choose from {', '.join(SEVERITIES)} or all")
        try:
            levels = [float(level)] if level else list(SEVERITIES[kind])
        except ValueError:
            raise ConfigError(f"perturbation {item!r}: the level must be a number") from None
        out += [Perturbation(kind, lv) for lv in levels]
    return out
