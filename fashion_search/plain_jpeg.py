"""Plain JPEGs decoded straight to pixels: PIL's pixels in a third of its time.

Most photos a catalogue holds are plain colour JPEGs, and decoding them was
the largest cost of preprocessing after the network itself. simplejpeg calls
the same libjpeg-turbo routines PIL does, with the same settings (accurate
integer DCT, smooth chroma upsampling, and for large photos the DCT scaling
that :func:`fashion_search.images.load_image`'s draft mode picks), without
PIL's file object and tile machinery. Anything this module is not sure to
decode exactly as ``load_image`` would (not a JPEG, metadata that may rotate
it, not YCbCr, a multi-picture file, anything libjpeg warns about, too many
bytes or pixels) is left to ``load_image``, which also gives the errors.
The tests compare the two on every shared photo set.
"""

from __future__ import annotations

import logging

import numpy as np

from fashion_search.images import MAX_BYTES, MAX_PIXELS

try:
    import simplejpeg
except ImportError:  # an image without it (the GPU one) decodes with PIL alone
    simplejpeg = None

log = logging.getLogger(__name__)

_START_OF_SCAN = 0xDA
_EXIF_OR_XMP = 0xE1  # APP1 carries EXIF or XMP, either of which may rotate the photo
_MULTI_PICTURE = (0xE2, b"MPF\x00")  # APP2 "MPF": PIL opens such a file as MPO


def plain_layout(data: bytes) -> bool:
    """Whether the segments before the scan hold nothing that PIL would act on.

    Walks the JPEG's marker segments; any APP1 (EXIF or XMP orientation) or
    multi-picture APP2 sends the photo to PIL, which rotates or opens it as
    MPO. A malformed header is not plain either: PIL gives its error.
    """
    if data[:2] != b"\xff\xd8":
        return False
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == _START_OF_SCAN:
            return True
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if length < 2:
            return False
        if marker == _EXIF_OR_XMP:
            return False
        if marker == _MULTI_PICTURE[0] and data[position + 4:position + 8] == _MULTI_PICTURE[1]:
            return False
        position += 2 + length
    return False


def draft_scale(width: int, height: int, draft_size: int | None) -> int:
    """The DCT scaling (1, 2, 4 or 8) PIL's draft mode picks for ``draft_size``."""
    if not draft_size:
        return 1
    fits = min(width // draft_size, height // draft_size)
    return next((scale for scale in (8, 4, 2) if fits >= scale), 1)


def decode_plain_jpeg(data: bytes, draft_size: int | None = None) -> np.ndarray | None:
    """A plain colour JPEG -> its RGB pixels (h, w, 3) uint8, exactly as PIL decodes them.

    ``None`` means "not sure": the caller decodes with ``load_image`` instead.
    """
    if simplejpeg is None or not data or len(data) > MAX_BYTES or not plain_layout(data):
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
        return simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_width=-(-width // scale), min_height=-(-height // scale),
            strict=True)
    except ValueError as err:
        log.debug("libjpeg was not sure of a photo (%s); decoding it with PIL", err)
        return None
