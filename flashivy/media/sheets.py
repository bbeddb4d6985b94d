"""Pictures for people to look at: contact sheets (a grid of images with captions) and figures, saved
atomically as PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.atomic import atomic_path


def contact_sheet(images: Sequence[np.ndarray], captions: Sequence[str] | None = None, cols: int = 8,
                  tile: int = 128, pad: int = 4, caption_height: int = 16) -> np.ndarray:
    """Tile RGB uint8 images into one RGB array with an optional caption under each."""
    import cv2

    if not images:
        raise ValueError("no images for the contact sheet")
    rows = -(-len(images) // cols)
    cell_h = tile + (caption_height if captions else 0) + pad
    sheet = np.full((rows * cell_h + pad, cols * (tile + pad) + pad, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * cell_h, pad + c * (tile + pad)
        sheet[y:y + tile, x:x + tile] = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        if captions:
            cv2.putText(sheet, captions[i][:22], (x + 1, y + tile + caption_height - 4),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    import cv2

    path = Path(path)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write a Matplotlib figure as PNG (atomically) and free it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path
