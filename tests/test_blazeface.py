"""Our BlazeFace (TFLite interpreter + NumPy post-processing) against MediaPipe's own solution."""
from __future__ import annotations

import numpy as np
import pytest

from flashivy.faces.blazeface import FULL_RANGE, SHORT_RANGE, anchors, weighted_nms
from flashivy.faces.boxes import iou
from flashivy.faces.detectors import create_detector


def test_anchor_layouts_match_the_models_outputs():
    assert anchors(SHORT_RANGE.size, SHORT_RANGE.strides, True).shape == (896, 2)
    full = anchors(FULL_RANGE.size, FULL_RANGE.strides, False)
    assert full.shape == (2304, 2)
    assert np.allclose(full[0], [0.5 / 48, 0.5 / 48]) and np.allclose(full[1], [1.5 / 48, 0.5 / 48])


def test_weighted_nms_merges_overlaps_and_keeps_the_rest():
    boxes = np.float32([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]])
    points = np.zeros((3, 6, 2), np.float32)
    points[1] += 3
    merged = weighted_nms(boxes, points, np.float32([0.9, 0.3, 0.8]))
    assert [round(score, 3) for _, _, score in merged] == [0.9, 0.8]
    assert np.allclose(merged[0][0], [0.25, 0, 10.25, 10])  # (0.9 * 0 + 0.3 * 1) / 1.2
    assert np.allclose(merged[0][1], 0.75)
    assert np.allclose(merged[1][0], boxes[2])
    assert iou(boxes[0], boxes[2:])[0] == 0


def _mediapipe_boxes(models, image):
    """MediaPipe's solution, as flashivy used it up to 0.2: full range, then short range if that finds none."""
    height, width = image.shape[:2]
    for model in models:
        found = []
        for det in model.process(np.ascontiguousarray(image)).detections or []:
            rel = det.location_data.relative_bounding_box
            x0, y0 = rel.xmin * width, rel.ymin * height
            found.append(((x0, y0, x0 + rel.width * width, y0 + rel.height * height), det.score[0]))
        if found:
            return sorted(found, key=lambda f: -f[1])
    return []


def _real_images(ffpp_root):
    import av
    from skimage import data

    images = [data.astronaut()]
    videos = sorted(ffpp_root.glob("**/*.mp4"))[::6]
    for path in videos:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % 30 == 0:
                    images.append(frame.to_ndarray(format="rgb24"))
                if i >= 60:
                    break
    tight = images[1][60:300, 200:440]  # a face filling the picture: the short-range model's case
    return images + [np.ascontiguousarray(tight)], len(videos)


def test_boxes_and_scores_equal_mediapipes_on_real_frames(ffpp_root):
    face_detection = pytest.importorskip("mediapipe.python.solutions.face_detection")
    models = [face_detection.FaceDetection(model_selection=m, min_detection_confidence=0.5) for m in (1, 0)]
    ours = create_detector("mediapipe")
    images, n_videos = _real_images(ffpp_root)
    assert n_videos >= 8 and len(images) > 3 * n_videos
    found = 0
    for image in images:
        reference, faces = _mediapipe_boxes(models, image), ours.detect(image)
        assert len(faces) == len(reference)
        for (box, score), face in zip(reference, faces):
            assert iou(box, face.box)[0] > 0.99
            assert abs(face.score - score) < 1e-3
        found += len(faces)
    assert found >= len(images) - 2  # nearly every frame has a face: the comparison is not of empty lists
