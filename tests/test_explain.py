"""v1's Grad-CAM figure through its old import path, on a public-domain face and a manipulated copy."""
import cv2
import numpy as np

from flashivy.explain.heatmaps import face_heatmap
from flashivy.inference.detector import Detector


def _manipulated(img):
    """The astronaut with her face blended with a blurred, recoloured copy of itself."""
    fake = img.copy()
    y0, y1, x0, x1 = 85, 165, 185, 265
    patch = np.clip(cv2.GaussianBlur(fake[y0:y1, x0:x1], (0, 0), 3) * [1.1, 0.9, 0.9], 0, 255)
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.ellipse(mask, ((x1 - x0) // 2, (y1 - y0) // 2), ((x1 - x0) // 2 - 4, (y1 - y0) // 2 - 4), 0, 0, 360, 1, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 4)[..., None]
    fake[y0:y1, x0:x1] = (patch * mask + fake[y0:y1, x0:x1] * (1 - mask)).astype(np.uint8)
    return fake


def test_plot_real_vs_fake_v1_import(tmp_path, astronaut):
    from explainability.grad_cam import plot_real_vs_fake

    real, fake = tmp_path / "real.jpg", tmp_path / "fake.jpg"
    cv2.imwrite(str(real), astronaut[..., ::-1])
    cv2.imwrite(str(fake), _manipulated(astronaut)[..., ::-1])
    out = plot_real_vs_fake(real, fake, out=tmp_path / "cmp.png")
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 400 and img.shape[1] > 400
    # without out= it returns the figure: each face above its heatmap, the verdict in the title below
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_real_vs_fake(real, fake)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[2].startswith("REAL") and titles[3].startswith("FAKE"), titles
    det = Detector.from_checkpoint(device="cpu")
    fake_face = fig.axes[1].get_images()[0].get_array()
    assert np.array_equal(fig.axes[3].get_images()[0].get_array(), face_heatmap(det, np.asarray(fake_face))[1])


def test_heatmap_points_at_the_manipulated_face(astronaut):
    det = Detector.from_checkpoint(device="cpu")
    fake = _manipulated(astronaut)
    face = det.face_detector.detect(fake)[0]
    from flashivy.faces.detectors import crop_face

    crop = crop_face(fake, face.box, det.margin, det.size)
    assert det.score_crops([crop])[0] > 0.5
    heat, overlay = face_heatmap(det, crop)
    assert heat.shape == (224, 224) and overlay.shape == (224, 224, 3)
    # where the pixels were changed, cut out exactly as the face was
    changed = (np.abs(fake.astype(int) - astronaut).sum(axis=2) > 6).astype(np.uint8) * 255
    inside = crop_face(np.dstack([changed] * 3), face.box, det.margin, det.size)[..., 0] > 127
    assert 0.1 < inside.mean() < 0.5
    # most of the evidence lies on the changed region, far more than its share of the crop
    assert heat[inside].sum() / heat.sum() > 0.6 and heat[inside].mean() > 4 * heat[~inside].mean()


def test_explain_command_image_and_video(tmp_path, face_video, astronaut):
    from flashivy.app.cli import main
    from flashivy.media.video import probe

    img = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(img), astronaut[..., ::-1])
    out = tmp_path / "ex"
    assert main(["explain", "--image", str(img), "--out", str(out), "--device", "cpu"]) == 0
    sheet = cv2.imread(str(out / "astronaut_explain.png"))[..., ::-1]
    # the face as the detector cut it, then its heatmap (tiles of 224 px, 4 px apart)
    det = Detector.from_checkpoint(device="cpu")
    from flashivy.faces.detectors import crop_face
    from flashivy.media.images import load_image

    rgb = load_image(img)
    crop = crop_face(rgb, det.face_detector.detect(rgb)[0].box, det.margin, det.size)
    face_tile, heat_tile = sheet[4:228, 4:228], sheet[4:228, 232:456]
    assert np.array_equal(face_tile, crop)  # the sheet is a PNG: the crop itself
    assert np.abs(heat_tile.astype(int) - face_heatmap(det, face_tile)[1]).mean() < 2
    assert np.abs(heat_tile.astype(int) - face_tile).mean() > 10  # a heatmap drawn over it, not a copy
    assert main(["explain", "--video", str(face_video), "--out", str(out), "--frames", "6", "--mp4",
                 "--method", "gradcam++", "--device", "cpu"]) == 0
    assert cv2.imread(str(out / "astronaut_frames.png")) is not None
    faces = cv2.imread(str(out / "astronaut_faces.png"))
    assert faces is not None and faces.shape[1] > 6 * 128  # six tiles in a row
    annotated = probe(out / "astronaut_annotated.mp4")
    assert annotated.frames == probe(face_video).frames


def test_grad_cam_on_the_onnx_path_equals_the_grad_cam_library(astronaut):
    """The export's own CAM output (the light path, no torch) against pytorch-grad-cam on the PyTorch model."""
    from flashivy.faces.detectors import crop_face

    light, heavy = Detector.from_checkpoint(device="cpu"), Detector.from_checkpoint(device="cpu", backend="torch")
    assert light.scorer.name == "onnx" and light.scorer.cam_outputs
    for image in (astronaut, _manipulated(astronaut), astronaut[::-1].copy()):
        faces = light.face_detector.detect(image)
        crop = crop_face(image, faces[0].box, light.margin, light.size) if faces else cv2.resize(image, (224, 224))
        a, overlay_a = face_heatmap(light, crop)
        b, overlay_b = face_heatmap(heavy, crop)
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.99
        assert np.abs(overlay_a.astype(int) - overlay_b).mean() < 0.5  # the same picture, to rounding


def test_a_batch_of_heatmaps_equals_them_one_by_one(astronaut):
    """A video's faces get their heatmaps in one run per backend; each is the face's own, whatever its kind."""
    from flashivy.explain.heatmaps import face_heatmaps
    from flashivy.models.kinds import GENERATED, MANIPULATED

    crops = [cv2.resize(c, (224, 224)) for c in (astronaut[:300, 100:400], _manipulated(astronaut)[:300, 100:400],
                                                  astronaut[::-1, ::-1][:300, 100:400])]
    kinds = [MANIPULATED, GENERATED, None]
    for det in (Detector.from_checkpoint(device="cpu"), Detector.from_checkpoint(device="cpu", backend="torch")):
        batch = face_heatmaps(det, crops, kinds=kinds)
        for crop, kind, (heat, overlay) in zip(crops, kinds, batch):
            one, one_overlay = face_heatmap(det, crop, kind=kind)
            assert np.abs(heat - one).max() < 1e-4
            # a float difference of 1e-7 can tip a colour-map bin: the same picture, to rounding
            assert np.abs(overlay.astype(int) - one_overlay).mean() < 0.05
        assert np.abs(batch[0][0] - batch[1][0]).max() > 0.05, "two heads, two different maps"


def test_heatmaps_need_no_torch_on_the_onnx_path(tmp_path, astronaut):
    import subprocess
    import sys

    image = tmp_path / "face.jpg"
    cv2.imwrite(str(image), astronaut[..., ::-1])
    code = ("import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
            "from flashivy.app.cli import main\n"
            f"sys.exit(main(['explain', '--image', {str(image)!r}, '--out', {str(tmp_path / 'out')!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    sheet = cv2.imread(str(tmp_path / "out" / "face_explain.png"))
    assert sheet is not None and sheet.shape[1] >= 2 * 224
