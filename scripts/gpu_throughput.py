"""Inference throughput of a checkpoint on the GPU: face crops per second, bf16 autocast, channels_last."""
import json
import sys
import time

import torch

from flashivy.models.checkpoint import load_checkpoint


def main(path: str, batch: int = 256, steps: int = 50) -> None:
    model, meta = load_checkpoint(path, device="cuda")
    model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, meta["input_size"], meta["input_size"], device="cuda").to(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(10):
            model(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            model(x)
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "batch": batch,
                      "crops_per_s": round(batch * steps / dt, 1), "architecture": meta["architecture"]}))


if __name__ == "__main__":
    main(sys.argv[1])
