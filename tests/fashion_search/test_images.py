"""Every odd photo either decodes to a clean upright RGB image or fails by name."""

import io

import numpy as np
import pytest
from PIL import Image

from fashion_search.errors import ImageError
from fashion_search.images import MAX_BYTES, MAX_PIXELS, load_image
from fashion_search.preprocessing import PreprocessConfig, preprocess

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
    with pytest.raises(ImageError, match=r"^huge\.png: the image is too large"):
        load_image(data, name="huge.png")


def test_a_file_over_the_byte_limit_is_refused_before_it_is_opened():
    data = b"\xff\xd8" + bytes(MAX_BYTES) + b"\xff\xd9"
    with pytest.raises(ImageError, match=r"blob\.jpg: the file is too large \(50 MB, over 50 MB\)"):
        load_image(data, name="blob.jpg")


def test_a_png_with_one_colour_marked_transparent_is_flattened_onto_white():
    image = Image.new("RGB", (40, 40), (0, 0, 0))
    image.paste((0, 0, 255), (0, 0, 20, 40))
    rgb = np.asarray(load_image(encode(image, "PNG", transparency=(0, 0, 0))))
    assert tuple(rgb[5, 5]) == (0, 0, 255)
    assert tuple(rgb[5, 35]) == (255, 255, 255)
    line_art = Image.new("1", (40, 40), 0)
    line_art.paste(1, (0, 0, 20, 40))
    rgb = np.asarray(load_image(encode(line_art, "PNG", transparency=0)))
    assert tuple(rgb[5, 5]) == (255, 255, 255) and tuple(rgb[5, 35]) == (255, 255, 255)
    assert rgb.min() == 255  # white ink on a see-through ground: all white once flattened


def test_a_pillow_without_an_optional_format_still_refuses_other_files_clearly(monkeypatch):
    from fashion_search import images

    images._openers.cache_clear()
    monkeypatch.setattr(images, "FORMATS", images.FORMATS + ("NOSUCHFORMAT",))
    try:
        with pytest.raises(ImageError, match=r"^junk\.bin: not a readable image"):
            load_image(b"neither a photo nor anything else" * 4, name="junk.bin")
    finally:
        images._openers.cache_clear()


@pytest.mark.parametrize("brightest", [255, 256, 4000])
def test_a_dim_sixteen_bit_png_stays_dim_whatever_its_brightest_pixel(brightest):
    array = np.full((20, 20), 200, dtype=np.uint16)
    array[0, 0] = brightest
    rgb = np.asarray(load_image(encode(Image.fromarray(array), "PNG")))
    assert rgb[10, 10, 0] == 1  # 200 of 65535, not 200 of 255


def test_a_float_image_of_fractions_keeps_its_tone():
    rgb = np.asarray(load_image(encode(Image.fromarray(np.full((8, 8), 0.5, np.float32)), "TIFF")))
    assert rgb[4, 4, 0] == 128


def test_a_multi_frame_jpeg_decodes_in_draft_mode_like_a_plain_one():
    big = Image.new("RGB", (2000, 1500), (120, 60, 30))
    plain = load_image(encode(big, "JPEG"), draft_size=224)
    mpo = encode(big, "MPO", save_all=True, append_images=[big.resize((200, 150))])
    assert Image.open(io.BytesIO(mpo)).format == "MPO"
    assert load_image(mpo, draft_size=224).size == plain.size == (500, 375)


def test_a_format_no_photo_comes_in_is_refused_unopened():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageError, match=r"^drawing\.eps: not a readable image"):
        load_image(eps, name="drawing.eps")


@pytest.mark.parametrize("size", [(1, 1000), (60000, 3)])
def test_a_photo_too_thin_to_crop_is_refused_by_name_before_it_is_resized(size):
    data = encode(Image.new("RGB", size, (90, 90, 90)), "PNG")
    with pytest.raises(ImageError, match=r"^strip\.png: the photo is .* crop it to the garment"):
        preprocess(data, PreprocessConfig(), name="strip.png")
