"""Images: reading and writing files (upright, size-checked, atomic) and the pure operations that
sharing applies to pictures (JPEG re-encoding, blur, rescaling, noise), on RGB uint8 arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputError, require_file


def save_image(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an RGB array as JPEG (or PNG by suffix) atomically."""
    import cv2

    with atomic_path(path) as tmp:
        ok = cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"cannot write {path}")


MAX_IMAGE_PIXELS = 50_000_000  # 50 MP: any photo; refuses decompression bombs before decoding
MIN_IMAGE_SIDE = 16  # below this there is no face to judge


def open_image(path: str | Path):
    """``PIL.Image.open`` without its decompression-bomb warning: our own limit below is the one that applies."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def load_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as RGB uint8, upright (EXIF orientation applied).

    The size is checked from the header before any pixel is decoded. 16-bit
    images are scaled to 8 bits, transparency is dropped, animations give
    their first frame.
    """
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    require_file(path)
    try:
        with warnings.catch_warnings(), open_image(path) as img:
            warnings.simplefilter("ignore")  # damaged files get one clear error below, not library warnings
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(f"{path}: {width}x{height} pixels is over the limit of "
                                f"{max_pixels / 1e6:.0f} megapixels; refused without decoding")
            if min(width, height) < MIN_IMAGE_SIDE:
                raise InputError(f"{path}: {width}x{height} pixels is too small to judge "
                                f"(at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})")
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit grey: keep the top 8 bits
                grey = (np.asarray(img, np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
            return np.asarray(img.convert("RGB"))
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: over the limit of {max_pixels / 1e6:.0f} megapixels ({exc}); "
                        "refused without decoding") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable image ({reason})") from None


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma)


def rescale(img: np.ndarray, factor: float) -> np.ndarray:
    """Down- then up-scale back to the original size."""
    import cv2

    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, int(w * factor)), max(1, int(h * factor))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)
