"""The NumPy side of the heatmaps: scaling a raw CAM and colouring it over the face."""
import numpy as np

from flashivy.inference.cams import heatmap, overlay


def test_heatmap_scales_to_one_and_keeps_the_hot_cell_where_it_was():
    cam = np.zeros((7, 7), np.float32)
    cam[1, 5] = 3.0
    cam[6, 0] = -2.0  # negative evidence is clipped (ReLU), not mirrored into heat
    heat = heatmap(cam, 224)
    assert heat.shape == (224, 224) and heat.min() == 0 and abs(heat.max() - 1) < 1e-6
    y, x = np.unravel_index(heat.argmax(), heat.shape)
    assert 32 <= y < 64 and 160 <= x < 192  # cell (1, 5) of a 7x7 grid over 224 px
    assert heat[200:, :24].max() < 0.05  # where the CAM was negative


def test_overlay_is_red_where_the_heat_is_and_the_face_shows_elsewhere():
    crop = np.full((64, 64, 3), 128, np.uint8)
    heat = np.zeros((64, 64), np.float32)
    heat[:32] = 1.0
    out = overlay(crop, heat)
    hot, cold = out[:32].reshape(-1, 3).mean(0), out[32:].reshape(-1, 3).mean(0)
    assert hot[0] > hot[2] + 100  # JET's red at full heat
    assert cold[2] > cold[0]  # JET's blue where there is none
    assert out.dtype == np.uint8 and out.max() >= 254  # scaled so the brightest channel tops the range
