"""Heatmaps that show why: each head's CAM on the checkpoint's own target layer (the grad-cam library on
the PyTorch model; Grad-CAM on the ONNX path from the export's CAM outputs, see :mod:`flashivy.inference.cams`)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.errors import ConfigError
from ..models.kinds import MANIPULATED

if TYPE_CHECKING:  # the CLI imports this module for CAM_METHODS: keep torch out of its start-up
    from ..inference.detector import Detector
    from ..inference.results import ImageResult, VideoResult

CAM_METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigencam")


def _cam_class(method: str):
    import pytorch_grad_cam as pgc

    classes = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "hirescam": pgc.HiResCAM,
               "xgradcam": pgc.XGradCAM, "layercam": pgc.LayerCAM, "eigencam": pgc.EigenCAM}
    if method not in classes:
        raise ConfigError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")
    return classes[method]


def top_kind(scores: dict[str, float]) -> str:
    """The most likely kind of fake in a per-kind score table."""
    return max(scores, key=scores.get) if scores else MANIPULATED


def face_heatmap(detector: Detector, crop: np.ndarray, method: str = "gradcam",
                 kind: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(cam in [0, 1] (H, W), RGB overlay)`` of the evidence for *fake* of ``kind`` in one face crop
    (by default the kind the model finds most likely there), from that kind's own head."""
    return face_heatmaps(detector, [crop], method, [kind])[0]


def face_heatmaps(detector: Detector, crops: list[np.ndarray], method: str = "gradcam",
                  kinds: list[str | None] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`face_heatmap` for many crops at once (a video's faces), batched rather than one face at a time.

    Grad-CAM on the ONNX path comes from the export's own CAM outputs in one model run (no torch); every
    other case uses the grad-cam library on the PyTorch model, one batch per head."""
    import cv2

    from ..inference.cams import heatmap, overlay
    from ..models.preprocess import normalise

    if not crops:
        return []
    size = detector.size
    crops = [cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) if c.shape[:2] != (size, size) else c
             for c in crops]
    kinds = list(kinds) if kinds is not None else [None] * len(crops)
    if unknown := [i for i, k in enumerate(kinds) if k is None]:
        probs = detector.kind_probabilities([crops[i] for i in unknown])
        for i, row in zip(unknown, probs):
            kinds[i] = top_kind(dict(zip(detector.kinds, row.tolist())))
    if missing := sorted(set(kinds) - set(detector.kinds)):
        raise ConfigError(f"this model has no {missing[0]!r} head; it has {', '.join(detector.kinds)}")
    if method == "gradcam" and getattr(detector.scorer, "cam_outputs", None):
        # the later heads' branch runs only on the faces whose heatmap comes from it
        later = np.array([i for i, kind in enumerate(kinds) if kind != detector.kinds[0]], np.int64)
        cams = detector.scorer.cams(normalise(crops, detector.meta["mean"], detector.meta["std"]), later)
        heats = [heatmap(cams[kind][i], size) for i, kind in enumerate(kinds)]
    else:
        heats = _torch_cams(detector, crops, method, kinds)
    return [(heat, overlay(crop, heat)) for crop, heat in zip(crops, heats)]


def _torch_cams(detector: Detector, crops: list[np.ndarray], method: str, kinds: list[str]) -> list[np.ndarray]:
    """CAMs of the grad-cam library on the PyTorch model, each from its kind's head (one batch per kind)."""
    import torch
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from ..inference.cams import head_layers
    from ..models.preprocess import to_tensor

    _cam_class(method)  # an unknown method is refused before the model loads
    model = detector.model
    heats: list[np.ndarray | None] = [None] * len(crops)
    for kind in dict.fromkeys(kinds):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        layer = head_layers(model, detector.meta)[kind][0]
        x = torch.stack([to_tensor(crops[i], detector.meta["mean"], detector.meta["std"]) for i in rows])
        # the logit of this kind's head: positive is evidence of a fake
        target = ClassifierOutputTarget(detector.kinds.index(kind))
        with torch.enable_grad(), _cam_class(method)(model=model, target_layers=[layer]) as cam:
            for i, heat in zip(rows, cam(input_tensor=x.to(detector.device), targets=[target] * len(rows))):
                heats[i] = heat
    return heats


def plot_real_vs_fake(real_path: str | Path, fake_path: str | Path, out: str | Path | None = None,
                      checkpoint: str | Path | None = None, method: str = "gradcam", crop: str = "auto"):
    """v1's figure: both faces, their heatmaps and calibrated scores side by side; shown, or saved to ``out``."""
    import matplotlib

    if out is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..faces.detectors import crop_face
    from ..inference.detector import Detector
    from ..media.images import load_image
    from ..media.sheets import save_figure

    detector = Detector.from_checkpoint(checkpoint, device="cpu")
    fig, axes = plt.subplots(2, 2, figsize=(7, 7.4))
    for col, (title, path) in enumerate((("given as real", real_path), ("given as fake", fake_path))):
        rgb = load_image(path)
        result = detector.predict_image(rgb, crop=crop)
        face = result.faces[0]
        face_crop = rgb if result.crop != "detect" else crop_face(rgb, face.box, detector.margin, detector.size)
        _, overlay = face_heatmap(detector, face_crop, method, top_kind(face.scores))
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
    return save_figure(fig, out)


def _score_colour(prob: float) -> tuple[int, int, int]:
    """Green for real through red for fake (RGB)."""
    return int(255 * prob), int(255 * (1 - prob)), 0


def explain_image(detector: Detector, path: str | Path, out_dir: str | Path, method: str = "gradcam",
                  crop: str = "auto") -> tuple[ImageResult, Path]:
    """The verdict and ``<stem>_explain.png``: each face (or the whole image) with its heatmap and probability."""
    from ..faces.detectors import crop_face
    from ..media.images import load_image
    from ..media.sheets import contact_sheet, save_png

    rgb = load_image(path)
    result = detector.predict_image(rgb, crop=crop)
    crops = [rgb if result.crop != "detect" else crop_face(rgb, face.box, detector.margin, detector.size)
             for face in result.faces]
    kinds = [top_kind(face.scores) for face in result.faces]
    tiles, captions = [], []
    for face, face_crop, kind, (_, overlay) in zip(result.faces, crops, kinds,
                                                   face_heatmaps(detector, crops, method, kinds)):
        tiles += [face_crop, overlay]
        captions += [f"face {face.person}: {method}", f"{kind} p={face.fake_probability:.3f}"]
    out = Path(out_dir) / f"{Path(path).stem}_explain.png"
    save_png(out, contact_sheet(tiles, captions, cols=min(len(tiles), 6), tile=224, caption_height=18))
    result.path = str(path)
    result.provenance = detector.provenance_of(path)  # scored from its pixels above, read from its file here
    return result, out


def plot_frame_probabilities(result, path: str | Path) -> Path:
    """Per-frame fake probability of each person, with the decision threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..media.sheets import save_figure

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for person in result.persons:
        seconds = [f / result.fps for f in person.frames]
        ax.plot(seconds, person.frame_probabilities, "o-", ms=3,
                label=f"person {person.person}: {person.prediction} ({person.fake_probability:.2f})")
    ax.axhline(result.threshold, color="k", ls=":", lw=0.8, label=f"threshold {result.threshold:.2f}")
    ax.set(xlabel="time (s)", ylabel="fake probability", ylim=(-0.02, 1.02),
           title=f"{Path(result.path).name}: {result.prediction or 'no face'}")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def annotate_video(source: str | Path, result, out: str | Path) -> Path:
    """An H.264 copy of ``source`` with each person's latest box coloured by its fake probability."""
    import cv2

    from ..media.video import iter_frames, probe, write_video

    by_frame: dict[int, list] = {}
    for face in result.faces:
        by_frame.setdefault(face.frame, []).append(face)
    info = probe(source)

    def annotated():
        latest: dict[int, object] = {}
        for index, frame in iter_frames(source, list(range(info.frames))):
            latest.update({f.person: f for f in by_frame.get(index, [])})
            frame = np.ascontiguousarray(frame)
            for face in latest.values():
                x0, y0, x1, y1 = map(int, face.box)
                colour = _score_colour(face.fake_probability)
                cv2.rectangle(frame, (x0, y0), (x1, y1), colour, 2)
                cv2.putText(frame, f"{face.person}: {face.fake_probability:.2f}", (x0, max(12, y0 - 6)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
            yield frame

    return write_video(out, annotated(), fps=info.fps)


def explain_video(detector: Detector, path: str | Path, out_dir: str | Path, num_frames: int = 32,
                  method: str = "gradcam", mp4: bool = False) -> tuple[VideoResult, list[Path]]:
    """The verdict, a per-frame probability plot, a contact sheet of the faces with heatmaps, optionally an MP4."""
    from ..media.sheets import contact_sheet, save_png

    result = detector.predict_video(path, num_frames, keep_crops=True)
    out_dir, stem = Path(out_dir), Path(path).stem
    written = [plot_frame_probabilities(result, out_dir / f"{stem}_frames.png")]
    if result.faces:
        order = sorted(range(len(result.faces)), key=lambda i: (result.faces[i].frame, result.faces[i].person))
        maps = face_heatmaps(detector, [result.crops[i] for i in order], method,
                             [top_kind(result.faces[i].scores) for i in order])
        tiles = [overlay for _, overlay in maps]
        captions = [f"f{result.faces[i].frame} p{result.faces[i].person} {result.faces[i].fake_probability:.2f}"
                    for i in order]
        written.append(save_png(out_dir / f"{stem}_faces.png", contact_sheet(tiles, captions, cols=8, tile=128)))
    if mp4:
        written.append(annotate_video(path, result, out_dir / f"{stem}_annotated.mp4"))
    return result, written
