"""A wall-clock limit per work item, so one pathological file cannot stall a batch.

The limit is cooperative: long loops call :func:`check`, and waits on the
decoding thread use :func:`remaining` as their timeout, so a decoder stuck in a
damaged file is abandoned rather than waited for. (No signals: an exception
raised asynchronously inside a lock or a native call can corrupt state.)
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from .errors import InputError

_deadline: ContextVar[tuple[float, float, str] | None] = ContextVar("deadline", default=None)


@contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Within the block, :func:`check` raises :class:`UserError` once ``seconds`` have passed."""
    token = _deadline.set((time.monotonic() + seconds, seconds, what) if seconds else None)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left under the current limit (None: no limit)."""
    limit = _deadline.get()
    return None if limit is None else max(0.0, limit[0] - time.monotonic())


def check() -> None:
    limit = _deadline.get()
    if limit is not None and time.monotonic() > limit[0]:
        raise InputError(f"{limit[2]}: gave up after {limit[1]:g} s (time limit per file)")
