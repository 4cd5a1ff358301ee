"""Every odd photo either decodes to a clean upright RGB image or fails by name."""

import io

import numpy as np
import pytest
from PIL import Image

from fashion_search.errors import ImageError
from fashion_search.images import MAX_BYTES, MAX_PIXELS, load_image

pytestmark = pytest.mark.unit


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def test_empty_file_is_refused_by_name():
    with pytest.raises(ImageError, match=r"empty\.jpg: the file is empty"):
        load_image(b"", name="empty.jpg")


def test_random_bytes_are_refused_by_name():
    with pytest.raises(ImageError, match=r"junk\.jpg: not a readable image"):
        load_image(b"not an image at all" * 10, name="junk.jpg")


def test_truncated_jpeg_is_refused_by_name():
    data = encode(Image.new("RGB", (300, 300), (10, 200, 30)), "JPEG")
    with pytest.raises(ImageError, match=r"cut\.jpg: the image is corrupt or truncated"):
        load_image(data[: len(data) // 2], name="cut.jpg")


def test_png_alpha_is_flattened_onto_white():
    image = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 20, 40))
    rgb = np.asarray(load_image(encode(image, "PNG")))
    assert rgb.shape == (40, 40, 3)
    assert tuple(rgb[5, 5]) == (0, 0, 255)
    assert tuple(rgb[5, 35]) == (255, 255, 255)


def test_cmyk_jpeg_becomes_rgb():
    image = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # red in CMYK
    rgb = load_image(encode(image, "JPEG"))
    assert rgb.mode == "RGB"
    r, g, b = np.asarray(rgb)[16, 16]
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_png_keeps_its_tones():
    array = np.full((20, 20), 65535, dtype=np.uint16)
    array[:, :10] = 0
    image = Image.fromarray(array)
    rgb = np.asarray(load_image(encode(image, "PNG")))
    assert rgb.dtype == np.uint8
    assert rgb[0, 0, 0] == 0 and rgb[0, 15, 0] == 255


def test_exif_rotation_is_applied():
    image = Image.new("RGB", (60, 30), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    upright = load_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert upright.size == (30, 60)


def test_huge_image_is_refused_before_decoding():
    side = int((MAX_PIXELS * 1.1) ** 0.5)
    data = encode(Image.new("1", (side, side)), "PNG")
    with pytest.raises(ImageError, match=r"huge\.png: the image is too large"):
        load_image(data, name="huge.png")


def test_a_file_over_the_byte_limit_is_refused_before_it_is_opened():
    data = b"\xff\xd8" + bytes(MAX_BYTES) + b"\xff\xd9"
    with pytest.raises(ImageError, match=r"blob\.jpg: the file is too large \(50 MB, over 50 MB\)"):
        load_image(data, name="blob.jpg")
