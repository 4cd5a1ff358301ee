"""Turning whatever bytes people upload into a clean RGB photo, or a clear error.

Photos arrive as JPEGs with EXIF rotation, PNGs with alpha, CMYK or 16-bit
scans, truncated downloads and empty files. Every path through the system
decodes with :func:`load_image`, so they all accept and reject the same files
(preprocessing first offers plain JPEGs to :mod:`fashion_search.plain_jpeg`,
which gives the same pixels and leaves every other file to this one).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion_search.errors import ImageError

# Larger images are refused rather than decoded into gigabytes of memory, and larger
# files before they are even opened: no photo of a garment needs more.
MAX_PIXELS = 100_000_000
MAX_BYTES = 50 * 2**20


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white and map every mode to 8-bit RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max() - array.min(), 1e-12)
        array = ((array - array.min()) / span * 255.0).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def load_image(data: bytes, name: str = "image", draft_size: int | None = None) -> Image.Image:
    """Decode bytes into an upright RGB image.

    ``draft_size`` lets JPEG decoding skip detail finer than the model will
    see, which makes large photos several times cheaper to decode.
    """
    if not data:
        raise ImageError(f"{name}: the file is empty (0 bytes); upload a JPEG, PNG or WebP photo")
    if len(data) > MAX_BYTES:
        raise ImageError(f"{name}: the file is too large ({len(data) / 2**20:.0f} MB, over "
                         f"{MAX_BYTES // 2**20} MB); send a smaller JPEG of the garment")
    def too_large() -> ImageError:
        return ImageError(f"{name}: the image is too large to process (over {MAX_PIXELS:,} "
                          "pixels); resize it below that and try again")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise too_large()
            if draft_size and image.format == "JPEG":
                image.draft("RGB", (draft_size, draft_size))
            image.load()
    except Image.DecompressionBombError as err:
        raise too_large() from err
    except UnidentifiedImageError as err:
        raise ImageError(
            f"{name}: not a readable image ({len(data):,} bytes of unknown format); "
            "upload a JPEG, PNG or WebP photo"
        ) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(
            f"{name}: the image is corrupt or truncated ({err}); re-export or re-download it"
        ) from err
    # A broken EXIF block must not lose the photo: keep it as stored. In place:
    # the usual upright photo would otherwise be copied for nothing.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)
    if image.width < 1 or image.height < 1:
        raise ImageError(f"{name}: the image has no pixels ({image.width}x{image.height})")
    return _to_rgb(image)
