"""Turning whatever bytes people upload into a clean RGB photo, or a clear error.

Photos arrive as JPEGs with EXIF rotation, PNGs with alpha, CMYK or 16-bit
scans, truncated downloads and empty files. Every path through the system
decodes with :func:`load_image`, so they all accept and reject the same files
(preprocessing first offers plain JPEGs to :mod:`fashion_search.plain_jpeg`,
which gives the same pixels and leaves every other file to this one).
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fashion_search.errors import ImageError

# Larger images are refused rather than decoded into gigabytes of memory, and larger
# files before they are even opened: no photo of a garment needs more.
MAX_PIXELS = 100_000_000
MAX_BYTES = 50 * 2**20
# The formats photos come in; others (EPS, which runs Ghostscript, PDF, ...) are refused
# unopened. JPEG's opener also opens JPEGs with more than one frame (phones' MPF), as MPO.
FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "GIF", "BMP", "TIFF")


@functools.cache
def _openers() -> tuple[str, ...]:
    """The photo formats this Pillow opens (AVIF only from Pillow 11.2 on)."""
    Image.init()
    return tuple(name for name in FORMATS if name in Image.OPEN)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white and map every mode to 8-bit RGB."""
    if image.mode.startswith("I;16"):  # 16-bit samples: 65535 is white
        array = np.asarray(image).astype(np.uint32)
        return _grey((array * 255 + 32767) // 65535)
    if image.mode == "I":  # 32-bit integers, which 16-bit scans also arrive as
        array = np.asarray(image)
        top = 65535 if array.max() > 255 else 255
        return _grey(np.clip(array.astype(np.int64) * 255 // top, 0, 255))
    if image.mode == "F":  # floats: 0..1 as most writers store them, else their range
        array = np.nan_to_num(np.asarray(image, dtype=np.float32))
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            array = (array - low) / max(high - low, 1e-12)
        return _grey(np.rint(array * 255.0))
    if image.mode == "P" or (image.mode in ("1", "L", "RGB") and "transparency" in image.info):
        # A palette or one colour marked transparent (PNG tRNS) is flattened like alpha.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def _grey(levels: np.ndarray) -> Image.Image:
    return Image.fromarray(levels.astype(np.uint8), mode="L").convert("RGB")


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
            image = Image.open(io.BytesIO(data), formats=_openers())
            if image.width * image.height > MAX_PIXELS:
                raise too_large()
            if draft_size and image.format in ("JPEG", "MPO"):  # MPO: a JPEG with extra frames
                image.draft("RGB", (draft_size, draft_size))
            image.load()
    except ImageError:
        raise
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


def upright_size(data: bytes, name: str = "image") -> tuple[int, int]:
    """(width, height) of the photo as :func:`load_image` turns it, read from its header."""
    try:
        with Image.open(io.BytesIO(data), formats=_openers()) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1) if hasattr(image, "getexif") else 1
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError) as err:
        raise ImageError(f"{name}: not a readable image ({err}); upload a JPEG, PNG or WebP "
                         "photo") from err
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
