"""Heatmaps that show why: CAMs on the checkpoint's target layer, contact sheets, v1's ``plot_real_vs_fake``."""
