"""Which device to run on, and what the machine offers: torch, CUDA, cuDNN, GPUs.

Nothing here imports torch unless the answer needs it: the core install has none."""
from __future__ import annotations

import sys
from pathlib import Path

from .errors import ConfigError


def cuda_report() -> str:
    import torch

    lines = [f"torch {torch.__version__}"]
    if not torch.cuda.is_available():
        return lines[0] + ": CUDA is not available, running on the CPU"
    lines.append(f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()} "
                 f"(enabled: {torch.backends.cudnn.enabled})")
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        lines.append(f"cuda:{i} {props.name}, capability {props.major}.{props.minor}, "
                     f"{props.total_memory / 2**30:.1f} GiB")
    return "\n".join(lines)


def _cuda_possible() -> bool:
    """Cheap check before importing torch: no NVIDIA driver, no CUDA."""
    return Path("/proc/driver/nvidia/version").exists() or sys.platform == "win32"


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    if _cuda_possible():
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu"


def pick_device(name: str = "auto"):
    """``torch.device`` for ``name`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``), refusing CUDA where there is none."""
    import torch

    name = resolve_device(name)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} asked for, but CUDA is not available")
    return torch.device(name)
