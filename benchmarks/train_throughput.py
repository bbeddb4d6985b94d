"""Where a self-blended training step spends its time on this CPU, stage by stage, and images/s end to end.

Stages per image (one process, one thread, as a loader worker runs them): JPEG decode, the landmarks
lookup, self-blending, resize and augmentation, normalisation; then per batch on the model (torch's
threads): forward, backward and the optimiser step, for each choice of frozen layers. End to end:
the real ``FaceDataset`` + ``DataLoader`` + step, for a few splits between loader workers and torch
threads. Prints a table; ``--json`` writes the figures.

    python benchmarks/train_throughput.py --crops data/ffpp_real128 [--size 224] [--batch 32]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def per_image_stages(samples, landmarks, size: int, n: int) -> dict[str, float]:
    """Milliseconds per image of each loader stage, on ``n`` real crops (every one self-blended)."""
    import cv2

    from flashivy.media.images import load_image
    from flashivy.models.preprocess import to_tensor
    from flashivy.training.blend import self_blend
    from flashivy.training.dataset import augment

    times = {k: 0.0 for k in ("decode", "landmarks", "self_blend", "resize_augment", "normalise")}
    to_tensor(np.zeros((size, size, 3), np.uint8), (0.5,) * 3, (0.5,) * 3)  # imports torch before the clock runs
    for i, s in enumerate(samples[:n]):
        rng = np.random.default_rng(i)
        t0 = time.perf_counter()
        img = np.array(load_image(s.path))
        t1 = time.perf_counter()
        points = landmarks.get(str(Path(s.path).resolve()))
        t2 = time.perf_counter()
        if points is not None:
            img, _ = self_blend(np.ascontiguousarray(img), points, rng)
        t3 = time.perf_counter()
        if img.shape[0] != size:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        img, _ = augment(img, rng)
        t4 = time.perf_counter()
        to_tensor(img, (0.5,) * 3, (0.5,) * 3)
        t5 = time.perf_counter()
        for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            times[key] += dt
    return {k: 1000 * v / n for k, v in times.items()}


def _trainee(model_name: str, freeze: list[str]):
    """The model in training mode with ``freeze`` left untrained (their batch norms in eval mode), and AdamW."""
    import torch

    from flashivy.models.registry import create_model
    from flashivy.training.train import freeze as freeze_layers

    model = create_model(model_name, pretrained=False).to(memory_format=torch.channels_last)
    norms = freeze_layers(model, freeze)
    model.train()
    for m in norms:
        m.eval()
    return model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)


def model_step(model_name: str, size: int, batch: int, freeze: list[str], threads: int, steps: int) -> dict:
    """Milliseconds per image of forward, backward and the optimiser step on random input."""
    import torch

    torch.set_num_threads(threads)
    model, opt = _trainee(model_name, freeze)
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch,)).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    times = {"forward": 0.0, "backward": 0.0, "optimiser": 0.0}
    for step in range(steps + 1):
        t0 = time.perf_counter()
        loss = loss_fn(model(x).squeeze(1), y)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if step:  # the first step warms up the allocator and the kernels
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
                times[key] += dt
    return {k: 1000 * v / (steps * batch) for k, v in times.items()}


def end_to_end(samples, landmarks, model_name: str, size: int, batch: int, freeze: list[str], workers: int,
               threads: int, steps: int) -> float:
    """Images/s of the real thing: FaceDataset (half the reals self-blended) + DataLoader + step."""
    import torch
    from torch.utils.data import DataLoader

    from flashivy.models.registry import model_spec
    from flashivy.training.dataset import FaceDataset

    torch.set_num_threads(threads)
    spec = model_spec(model_name)
    ds = FaceDataset(samples, size, spec.mean, spec.std, train=True, self_blend=0.5, landmarks=landmarks)
    loader = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                        persistent_workers=False, generator=torch.Generator().manual_seed(0))
    model, opt = _trainee(model_name, freeze)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    seen, started = 0, None
    for step, (x, y, _) in enumerate(loader):
        if step == 1:  # after the workers started and the first batch warmed up
            started, seen = time.perf_counter(), 0
        loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)).squeeze(1), y.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += len(y)
        if step == steps:
            break
    return seen / (time.perf_counter() - started)


FREEZES = {"none": [], "stem+blocks.0-1": ["conv_stem", "bn1", "blocks.0", "blocks.1"],
           "stem+blocks.0-2": ["conv_stem", "bn1", "blocks.0", "blocks.1", "blocks.2"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--crops", type=Path, required=True, help="a crop folder with landmarks.npz (real faces)")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=200, help="crops timed per loader stage")
    ap.add_argument("--steps", type=int, default=6, help="timed batches per model or end-to-end figure")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from flashivy.datasets.samples import load_source
    from flashivy.training.blend import load_landmarks

    samples = [s for s in load_source(args.crops) if s.label == 0]
    landmarks = load_landmarks(args.crops)
    out: dict = {"model": args.model, "size": args.size, "batch": args.batch, "crops": str(args.crops)}
    out["loader_ms_per_image"] = per_image_stages(samples, landmarks, args.size, args.images)
    print("loader stages, ms per image (1 thread):", json.dumps({k: round(v, 2) for k, v in out["loader_ms_per_image"].items()}))
    out["model_ms_per_image"] = {}
    for name, prefixes in FREEZES.items():
        for threads in (1, 2):
            key = f"{name}, {threads} thread(s)"
            out["model_ms_per_image"][key] = model_step(args.model, args.size, args.batch, prefixes, threads, args.steps)
            print(f"model step, ms per image, frozen {key}:",
                  json.dumps({k: round(v, 2) for k, v in out["model_ms_per_image"][key].items()}), flush=True)
    out["end_to_end_images_per_s"] = {}
    for name in ("none", "stem+blocks.0-1"):
        for workers, threads in ((0, 2), (1, 2), (2, 2), (1, 1)):
            key = f"frozen {name}, {workers} worker(s), {threads} torch thread(s)"
            rate = end_to_end(samples, landmarks, args.model, args.size, args.batch, FREEZES[name], workers, threads,
                              args.steps)
            out["end_to_end_images_per_s"][key] = rate
            print(f"end to end, {key}: {rate:.1f} images/s", flush=True)
    if args.json:
        from flashivy.core.atomic import write_text_atomic

        write_text_atomic(args.json, json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
