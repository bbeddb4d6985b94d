"""v1's import path for explanations; the code lives in :mod:`flashivy.explain.heatmaps`."""
