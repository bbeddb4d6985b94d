"""Calibration: a fake probability from a head's logit, ``sigmoid(logit / T + b)``, with T and b fitted
on validation (Platt scaling). Every checkpoint head carries its own ``temperature`` and ``bias``."""
from __future__ import annotations

import numpy as np


def calibrated_probs(logits: np.ndarray, temperature: float = 1.0, bias: float = 0.0) -> np.ndarray:
    """Fake probability ``sigmoid(logit / T + bias)``."""
    return 1.0 / (1.0 + np.exp(-(np.asarray(logits, float) / temperature + bias)))


def fit_calibration(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Temperature T and bias b minimising the log-loss of sigmoid(logit / T + b) (Platt scaling).

    The bias matters when training shifted the model's prior, e.g. pseudo-fakes that make "fake" more
    common in training than in the world; a temperature alone cannot undo that.
    """
    from scipy.optimize import (
        minimize,  # scipy: declared by the train extra (training fits, scoring reads)
    )

    logits, labels = np.asarray(logits, float), np.asarray(labels, float)

    def nll(params: np.ndarray) -> float:
        p = np.clip(calibrated_probs(logits, np.exp(params[0]), params[1]), 1e-7, 1 - 1e-7)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    result = minimize(nll, np.zeros(2), method="L-BFGS-B", bounds=[(np.log(0.05), np.log(20.0)), (-5.0, 5.0)])
    return float(np.exp(result.x[0])), float(result.x[1])


def capped_bias(real_logits: np.ndarray, temperature: float, bias: float, rate: float,
                groups: np.ndarray | None = None) -> float:
    """``bias``, lowered where needed so that at most ``rate`` of ``real_logits`` reach probability 0.5; with
    ``groups`` (one name per logit, e.g. its source), at most ``rate`` of each group's.

    An operating point for a head whose false alarms cost more than its misses: the probabilities then
    understate (their ECE says by how much), in exchange for fewer real faces called fake. Pooled, an easy
    group's many quiet logits would let a hard group's false alarms through; per group they cannot."""
    if groups is not None:
        groups = np.asarray(groups)
        return min([bias] + [capped_bias(np.asarray(real_logits)[groups == g], temperature, bias, rate)
                             for g in np.unique(groups)])
    z = np.asarray(real_logits, float) / temperature
    if rate <= 0 or not len(z):
        return bias
    # p >= 0.5 iff z + b >= 0: only logits above the (1 - rate) quantile may pass
    return min(bias, -float(np.quantile(z, 1 - rate, method="higher")) - 1e-6)
