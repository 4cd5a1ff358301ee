"""Colour JPEGs decoded straight to pixels: PIL's pixels in a third of its time.

Most photos a catalogue holds are colour JPEGs, and decoding them was the
largest cost of preprocessing after the network itself. simplejpeg calls the
same libjpeg-turbo routines PIL does, with the same settings (accurate
integer DCT, and for large photos the DCT scaling that
:func:`fashion_search.images.load_image`'s draft mode picks), without PIL's
file object and tile machinery. Chroma is upsampled smoothly, as PIL does,
or fast, as nvJPEG does (the contract's ``jpeg_upsampling``); a fast decode
also turns an EXIF-rotated photo upright itself, as PIL would, since PIL
cannot decode it fast. Anything this module is not sure to decode as the
contract says (not a JPEG, not YCbCr, a multi-picture file, anything libjpeg
warns about, too many bytes or pixels, and a rotated photo decoded smoothly)
is left to ``load_image``, which also gives the errors. The tests compare the
two on every shared photo set.
"""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image

from fashion_search.errors import RecipeError
from fashion_search.images import MAX_BYTES, MAX_PIXELS

try:
    import simplejpeg
except ImportError:  # an image without it (the GPU one) decodes with PIL alone
    simplejpeg = None

log = logging.getLogger(__name__)

_START_OF_SCAN = 0xDA
_EXIF_OR_XMP = 0xE1  # APP1 carries EXIF or XMP, either of which may rotate the photo
_MULTI_PICTURE = (0xE2, b"MPF\x00")  # APP2 "MPF": PIL opens such a file as MPO


# EXIF orientation -> the steps that show stored (h, w, 3) pixels upright, as PIL's
# ``ImageOps.exif_transpose`` turns them
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def jpeg_layout(data: bytes) -> str | None:
    """"plain", "exif" (an APP1 block, which may turn the photo) or None (not a JPEG
    this module decodes: malformed, multi-picture).

    Walks the JPEG's marker segments up to the scan; a multi-picture APP2 goes to
    PIL, which opens it as MPO, and so does a malformed header: PIL gives its error.
    """
    if data[:2] != b"\xff\xd8":
        return None
    layout, position = "plain", 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _START_OF_SCAN:
            return layout
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if length < 2:
            return None
        if marker == _EXIF_OR_XMP:
            layout = "exif"
        if marker == _MULTI_PICTURE[0] and data[position + 4:position + 8] == _MULTI_PICTURE[1]:
            return None
        position += 2 + length
    return None


def plain_layout(data: bytes) -> bool:
    """Whether the segments before the scan hold nothing that PIL would act on."""
    return jpeg_layout(data) == "plain"


def exif_orientation(data: bytes) -> int | None:
    """The EXIF turn PIL would apply (1: none), or None when the EXIF cannot be read."""
    try:
        orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - PIL keeps such a photo as stored, and so does load_image
        return None
    return orientation if orientation in _UPRIGHT else 1


def require_decoder() -> None:
    """PIL cannot upsample fast: a contract that does needs simplejpeg, or its photos
    would be decoded otherwise than the model was trained on, silently."""
    if simplejpeg is None:
        raise RecipeError("this model's preprocessing decodes JPEGs with fast chroma "
                          "upsampling, which needs simplejpeg: pip install 'simplejpeg>=1.7'")


def draft_scale(width: int, height: int, draft_size: int | None) -> int:
    """The DCT scaling (1, 2, 4 or 8) PIL's draft mode picks for ``draft_size``."""
    if not draft_size:
        return 1
    fits = min(width // draft_size, height // draft_size)
    return next((scale for scale in (8, 4, 2) if fits >= scale), 1)


def decode_plain_jpeg(data: bytes, draft_size: int | None = None,
                      fast_upsampling: bool = False) -> np.ndarray | None:
    """A colour JPEG -> its upright RGB pixels (h, w, 3) uint8, as the contract decodes them.

    ``None`` means "not sure": the caller decodes with ``load_image`` instead.
    """
    if simplejpeg is None or not data or len(data) > MAX_BYTES:
        return None
    layout = jpeg_layout(data)
    if layout is None or (layout == "exif" and not fast_upsampling):
        return None
    orientation = exif_orientation(data) if layout == "exif" else 1
    if orientation is None:
        return None
    try:
        height, width, colourspace, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError:
        return None
    if colourspace != "YCbCr" or width * height > MAX_PIXELS or width < 1 or height < 1:
        return None
    scale = draft_scale(width, height, draft_size)
    try:
        # Ceiling division, as libjpeg sizes a scaled decode; asking for at
        # least that size makes simplejpeg take exactly 1/scale.
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="RGB", fastupsample=fast_upsampling,
            min_width=-(-width // scale), min_height=-(-height // scale), strict=True)
    except ValueError as err:
        log.debug("libjpeg was not sure of a photo (%s); decoding it with PIL", err)
        return None
    if orientation == 1:
        return pixels
    return np.ascontiguousarray(_UPRIGHT[orientation](pixels))
