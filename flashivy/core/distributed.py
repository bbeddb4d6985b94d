"""torch.distributed as torchrun sets it up: rank, world size, backend, and the few collectives we use.

Launched without torchrun everything here degrades to a world of one, so the
same code trains and scores in one process.
"""
from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device_type: str = "cpu") -> World:
    """Join the process group torchrun describes (nccl on GPUs, gloo on CPUs); a world of one otherwise."""
    if not launched_by_torchrun():
        return World()
    import torch
    import torch.distributed as dist

    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(world.local_rank)
        dist.init_process_group(backend=backend)
    return world


def shutdown() -> None:
    """Tear the process group down now, while the interpreter is whole.

    A gloo group still alive at interpreter exit can abort the process (SIGABRT,
    "terminate called without an active exception"), seen once in CI; so
    anything that still refers to it is collected first.
    """
    dist = sys.modules.get("torch.distributed")  # never import torch just to find nothing to shut down
    if dist is not None and dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def gather(world: World, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not world.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast(world: World, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (for decisions all ranks must take together)."""
    if not world.distributed:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(items: list, world: World) -> list:
    """This rank's share of ``items``: every ``size``-th from position ``rank`` (stable, disjoint)."""
    return items[world.rank::world.size]
