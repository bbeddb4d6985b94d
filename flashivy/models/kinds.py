"""Kinds of fake, one head each, on one shared trunk.

The face-swap model ("manipulated") is kept exactly as trained. Another kind
(e.g. "generated": faces no camera saw) gets a copy of the model's later
layers, from block ``branch_at`` on, trained on its own data while the trunk
before it stays frozen. The trunk runs once per face, so a second kind costs
only its branch, and the face-swap verdict is bit-for-bit the one of the
model without it.

A checkpoint says which kinds it has in ``meta["heads"]``: a list of
``{"kind", "temperature", "bias"}`` (the first is always "manipulated");
older checkpoints have one head, calibrated by ``meta["temperature"]`` and
``meta["bias"]``.
"""
from __future__ import annotations

MANIPULATED = "manipulated"
GENERATED = "generated"
BLENDED = "blended"  # a whole second model, trained on self-blended faces only (flashivy.training.fuse)


def heads_of(meta: dict) -> list[dict]:
    """The calibrated heads of a checkpoint, in output order."""
    if meta.get("heads"):
        return meta["heads"]
    return [{"kind": MANIPULATED, "temperature": float(meta.get("temperature", 1.0)),
             "bias": float(meta.get("bias", 0.0))}]


def kinds_of(meta: dict) -> list[str]:
    return [h["kind"] for h in heads_of(meta)]


# How each kind is said to a user.
DESCRIPTIONS = {MANIPULATED: "swapped or re-enacted face", GENERATED: "fully generated face (no camera saw it)",
                BLENDED: "face blended into the frame (traces a swap or re-enactment leaves)"}


def describe_scores(scores: dict[str, float]) -> str:
    """``"manipulated 0.0312, generated 0.9871"``: every kind's fake probability."""
    return ", ".join(f"{kind} {p:.4f}" for kind, p in scores.items())


def kind_line(kind: str | None, scores: dict[str, float]) -> str:
    """One line saying which kind of fake decided the verdict, with every kind's probability."""
    what = f"{kind}: {DESCRIPTIONS.get(kind, kind)}" if kind else "none found"
    return f"kind of fake: {what} (per kind: {describe_scores(scores)})"
