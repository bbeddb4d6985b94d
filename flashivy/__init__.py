"""Flashivy-Deepfake: deepfake detection for face images and videos."""

__version__ = "0.3.0"
