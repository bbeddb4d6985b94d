"""How face scores become a verdict: per face, per person, per video, per kind of fake. Pure functions
on probabilities; a ``Detector`` takes any of them as its ``face_aggregate`` / ``video_aggregate``."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

Aggregate = Callable[[Sequence[float]], float]


def mean_probability(probs: Sequence[float]) -> float:
    return float(np.mean(probs))


def most_fake_person(person_probs: Sequence[float]) -> float:
    """A video is as fake as its most fake person: one swapped face makes a fake video."""
    return float(max(person_probs))


def kind_scores(per_kind: dict[str, Sequence[float]], aggregate: Aggregate) -> dict[str, float]:
    """Each kind's probabilities aggregated alone (a fake of one kind is found by its own head), over the
    faces its head ran on (NaN where it did not: in videos the later heads see a subset of frames)."""
    seen = {kind: [p for p in probs if not np.isnan(p)] for kind, probs in per_kind.items()}
    return {kind: aggregate(probs) for kind, probs in seen.items() if probs}


def known(scores: Sequence[float], kinds: Sequence[str]) -> dict[str, float]:
    """One face's probability per kind, the heads that did not run on it left out."""
    return {kind: float(p) for kind, p in zip(kinds, scores) if not np.isnan(p)}


def fake_of_any_kind(scores: dict[str, float]) -> float | None:
    """The fake probability: that of the most likely kind of fake."""
    return max(scores.values()) if scores else None
