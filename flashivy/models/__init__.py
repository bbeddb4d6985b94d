"""Models: the registry (``create_model``), kinds of fake and their heads, checkpoints, preprocessing, calibration."""
