"""Measuring a detector: metrics (AUC, AP, EER, ECE), per-method evaluation, perturbations, the quality sweep."""
