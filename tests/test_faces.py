import numpy as np
import pytest

from flashivy.core.errors import UserError
from flashivy.faces.boxes import iou
from flashivy.faces.detectors import (
    create_detector,
    crop_face,
    list_detectors,
    square_box,
)

ASTRONAUT_FACE = (175, 65, 275, 170)  # where Eileen Collins' face is in skimage.data.astronaut


@pytest.mark.parametrize("name", ["mediapipe", "haar"])
def test_detectors_find_the_astronaut(name, astronaut):
    faces = create_detector(name).detect(astronaut)
    assert len(faces) == 1
    assert iou(faces[0].box, ASTRONAUT_FACE)[0] > 0.6


@pytest.mark.parametrize("name", ["mediapipe", "haar"])
def test_detectors_find_nothing_in_a_face_free_image(name):
    from skimage import data

    assert create_detector(name).detect(data.coffee()) == []


def test_mediapipe_gives_landmarks(astronaut):
    face = create_detector("mediapipe").detect(astronaut)[0]
    assert face.landmarks.shape == (6, 2)
    x0, y0, x1, y1 = face.box
    right_eye, left_eye = face.landmarks[0], face.landmarks[1]
    assert x0 < right_eye[0] < left_eye[0] < x1 and y0 < right_eye[1] < y1


def test_unknown_detector_is_a_user_error():
    assert {"haar", "mediapipe"} <= set(list_detectors())
    with pytest.raises(UserError):
        create_detector("nope")


def test_square_box_geometry():
    assert square_box((10, 20, 30, 60), margin=1.0) == (0, 20, 40, 60)
    left, top, right, bottom = square_box((100, 100, 200, 150), margin=1.3)
    assert right - left == bottom - top == 130
    assert (left + right) / 2 == 150 and (top + bottom) / 2 == 125


def test_crop_face_size_and_border_padding():
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, :50] = 255  # left half white
    crop = crop_face(img, (0, 0, 40, 40), margin=2.0, size=64)
    assert crop.shape == (64, 64, 3)
    # the square reaches past the top-left corner: replicated border keeps the face centred
    assert crop[32, 32].tolist() == [255, 255, 255]


def test_crop_is_centred_on_the_box():
    img = np.zeros((200, 200, 3), np.uint8)
    img[90:110, 90:110] = 200
    crop = crop_face(img, (90, 90, 110, 110), margin=2.0, size=40)
    assert crop[20, 20, 0] == 200 and crop[2, 2, 0] == 0
