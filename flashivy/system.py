"""What the machine offers: torch, CUDA, cuDNN, GPUs."""
from __future__ import annotations


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
