"""The public surface: every name flashivy lists resolves, and importing flashivy loads nothing heavy."""
import subprocess
import sys

import flashivy


def test_every_public_name_resolves_to_what_its_module_defines():
    from flashivy.inference.detector import Detector
    from flashivy.models.registry import create_model

    for name in flashivy.__all__:
        assert getattr(flashivy, name) is not None, name
    assert flashivy.Detector is Detector and flashivy.create_model is create_model
    assert issubclass(flashivy.InputError, flashivy.UserError) and issubclass(flashivy.ConfigError, flashivy.UserError)
    assert "efficientnet_lite0" in flashivy.list_models()


def test_importing_flashivy_loads_no_model_code_and_no_torch():
    code = ("import sys, flashivy; heavy = [m for m in ('torch', 'onnxruntime', 'cv2', 'flashivy.inference.detector') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
