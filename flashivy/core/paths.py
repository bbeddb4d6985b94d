"""Where the package's own files are (the shipped weights, the bundled sample) and the check that shipped
weights are the bytes the repository recorded."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = PACKAGE_DIR / "weights"
ASSETS_DIR = PACKAGE_DIR / "assets"
CHECKSUMS = WEIGHTS_DIR / "SHA256SUMS"


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_if_shipped(path: Path, digest: str | None = None) -> None:
    """Shipped weights (files in ``flashivy/weights/``) must match the SHA-256 recorded in the repository.

    ``digest``: the file's SHA-256 when the caller has it already."""
    path = path.resolve()
    if path.parent != WEIGHTS_DIR or not CHECKSUMS.exists():
        return
    sums = dict(reversed(line.split(maxsplit=1)) for line in CHECKSUMS.read_text().splitlines() if line.strip())
    expected = sums.get(path.name)
    if expected and (digest or sha256(path)) != expected:
        raise ConfigError(f"{path}: SHA-256 does not match {CHECKSUMS.name}; the file is damaged or was replaced")
