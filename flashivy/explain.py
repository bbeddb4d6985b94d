"""Heatmaps that show why: CAMs from the grad-cam library on the checkpoint's own target layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .detector import Detector
from .errors import UserError
from .models import get_layer, model_spec

CAM_METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam")


def _cam_class(method: str):
    import pytorch_grad_cam as pgc

    classes = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "hirescam": pgc.HiResCAM,
               "xgradcam": pgc.XGradCAM, "layercam": pgc.LayerCAM, "eigencam": pgc.EigenCAM}
    if method not in classes:
        raise UserError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")
    return classes[method]


def face_heatmap(detector: Detector, crop: np.ndarray, method: str = "gradcam") -> tuple[np.ndarray, np.ndarray]:
    """``(cam in [0, 1] (H, W), RGB overlay)`` of the evidence for *fake* in one face crop."""
    import cv2
    from pytorch_grad_cam.utils.image import show_cam_on_image
    from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget

    from .data import to_tensor

    size = detector.size
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA) if crop.shape[:2] != (size, size) else crop
    layer = get_layer(detector.model, model_spec(detector.meta["architecture"]).cam_layer)
    x = to_tensor(crop, detector.meta["mean"], detector.meta["std"])[None].to(detector.device)
    with torch.enable_grad(), _cam_class(method)(model=detector.model, target_layers=[layer]) as cam:
        heat = cam(input_tensor=x, targets=[BinaryClassifierOutputTarget(1)])[0]
    overlay = show_cam_on_image(crop.astype(np.float32) / 255, heat, use_rgb=True)
    return heat, overlay


def plot_real_vs_fake(real_path: str | Path, fake_path: str | Path, out: str | Path | None = None,
                      checkpoint: str | Path | None = None, method: str = "gradcam", crop: str = "auto"):
    """v1's figure: both faces, their heatmaps and calibrated scores side by side; shown, or saved to ``out``."""
    import matplotlib

    if out is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import atomic_path
    from .crops import load_image
    from .faces import crop_face

    detector = Detector.from_checkpoint(checkpoint, device="cpu")
    fig, axes = plt.subplots(2, 2, figsize=(7, 7.4))
    for col, (title, path) in enumerate((("given as real", real_path), ("given as fake", fake_path))):
        rgb = load_image(path)
        result = detector.predict_image(rgb, crop=crop)
        face = result.faces[0]
        face_crop = rgb if result.crop != "detect" else crop_face(rgb, face.box, detector.margin, detector.size)
        _, overlay = face_heatmap(detector, face_crop, method)
        axes[0, col].imshow(face_crop)
        axes[0, col].set_title(f"{title}: {Path(path).name}", fontsize=9)
        axes[1, col].imshow(overlay)
        axes[1, col].set_title(f"{result.prediction}  fake probability {result.fake_probability:.3f}", fontsize=9)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.suptitle(f"{method} of the evidence for 'fake' ({detector.meta['architecture']})", fontsize=10)
    fig.tight_layout()
    if out is None:
        plt.show()
        return fig
    with atomic_path(Path(out)) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(out)
