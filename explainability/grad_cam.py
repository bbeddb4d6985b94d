"""v1 compatible: ``from explainability.grad_cam import plot_real_vs_fake``."""
from flashivy.explain.heatmaps import face_heatmap, plot_real_vs_fake

__all__ = ["plot_real_vs_fake", "face_heatmap"]
