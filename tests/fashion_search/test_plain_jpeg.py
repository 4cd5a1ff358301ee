"""The JPEG decoder gives PIL's pixels exactly (smooth upsampling) or nvJPEG's (fast), turned
upright as PIL turns them, or leaves the photo to PIL."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashion_search import plain_jpeg
from fashion_search.errors import ImageError, RecipeError
from fashion_search.images import load_image
from fashion_search.plain_jpeg import decode_plain_jpeg, draft_scale, plain_layout
from fashion_search.preprocessing import PreprocessConfig, preprocess, preprocess_photos

pytestmark = pytest.mark.unit

SIZE = PreprocessConfig().size


def encode(image: Image.Image, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", **kwargs)
    return out.getvalue()


def photo(path: Path, size: tuple[int, int]) -> Image.Image:
    return load_image(path.read_bytes()).resize(size, Image.Resampling.BICUBIC)


def assert_same_as_pil(data: bytes, draft_size: int | None = SIZE) -> None:
    fast = decode_plain_jpeg(data, draft_size=draft_size)
    assert fast is not None, "a plain colour JPEG was left to PIL"
    np.testing.assert_array_equal(fast, np.asarray(load_image(data, draft_size=draft_size)))


def sample(folder: Path, count: int) -> list[Path]:
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    return photos[:: max(1, len(photos) // count)][:count]


@pytest.mark.parametrize("dataset", ["products_dir", "clothing_dir", "street2shop_dir"])
def test_real_photos_decode_to_pils_pixels(request, dataset):
    decoded = 0
    for path in sample(request.getfixturevalue(dataset), 150):
        data = path.read_bytes()
        if decode_plain_jpeg(data, draft_size=SIZE) is not None:
            assert_same_as_pil(data)
            decoded += 1
    assert decoded >= 140, "most real photos should take the fast path"


@pytest.mark.parametrize("size, scale", [((451, 333), 1), ((700, 500), 2), ((1000, 1400), 4),
                                         ((3000, 2000), 8)])
def test_large_photos_take_the_draft_scale_pil_takes(products_dir, size, scale):
    data = encode(photo(sample(products_dir, 1)[0], size), quality=92)
    assert draft_scale(*size, SIZE) == scale
    assert_same_as_pil(data)
    assert decode_plain_jpeg(data, draft_size=SIZE).shape[:2] == (-(-size[1] // scale),
                                                                    -(-size[0] // scale))


@pytest.mark.parametrize("options", [{"subsampling": 0}, {"subsampling": 1}, {"subsampling": 2},
                                     {"progressive": True}, {"optimize": True},
                                     {"quality": 100, "subsampling": 0},
                                     {"icc_profile": b"\0" * 300}])
def test_every_colour_encoding_decodes_to_pils_pixels(street2shop_dir, options):
    image = photo(sample(street2shop_dir / "person", 1)[0], (517, 611))
    assert_same_as_pil(encode(image, **options))
    assert_same_as_pil(encode(image, **options), draft_size=None)


def exif_rotated(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, exif=exif.tobytes())


def xmp_rotated(image: Image.Image) -> bytes:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    return encode(image, xmp=xmp)


@pytest.mark.parametrize("make", [
    exif_rotated,
    xmp_rotated,
    lambda image: encode(image.convert("L")),
    lambda image: encode(image.convert("CMYK")),
    lambda image: encode(image)[:1500],
    lambda image: b"",
    lambda image: b"\xff\xd8\xff\xe0\x00",
])
def test_photos_pil_treats_differently_are_left_to_it(make):
    image = Image.new("RGB", (300, 200), (200, 40, 30))
    image.paste((10, 20, 240), (0, 0, 100, 200))
    assert decode_plain_jpeg(make(image), draft_size=SIZE) is None


def test_rotated_and_truncated_photos_still_get_pils_answer():
    image = Image.new("RGB", (300, 200), (200, 40, 30))
    contract = PreprocessConfig()
    assert preprocess(exif_rotated(image), contract).shape == contract.input_shape
    np.testing.assert_array_equal(np.asarray(load_image(exif_rotated(image))).shape, (300, 200, 3))
    with pytest.raises(ImageError, match=r"cut\.jpg: the image is corrupt or truncated"):
        preprocess(encode(image)[:1500], contract, name="cut.jpg")


def test_plain_layout_reads_markers_not_bytes_inside_them():
    image = Image.new("RGB", (64, 64), (1, 2, 3))
    # "Exif" inside a comment segment is not an EXIF block.
    assert plain_layout(encode(image, comment=b"Exif\0\0 tiff:Orientation"))
    assert not plain_layout(exif_rotated(image))
    assert not plain_layout(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)


def test_without_simplejpeg_a_smooth_contract_gets_the_same_pixels_and_colours(
        products_dir, street2shop_dir, monkeypatch):
    image = photo(sample(street2shop_dir / "person", 1)[0], (400, 600))
    photos = [p.read_bytes() for p in sample(products_dir, 6)]
    photos += [exif_rotated(image), encode(image.convert("CMYK")), encode(image)]
    contract = PreprocessConfig(jpeg_upsampling="smooth")
    fast = preprocess_photos(photos, contract, colours=True)
    monkeypatch.setattr(plain_jpeg, "simplejpeg", None)
    assert decode_plain_jpeg(photos[0], draft_size=SIZE) is None
    slow = preprocess_photos(photos, contract, colours=True)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


def test_without_simplejpeg_a_fast_contract_refuses_to_decode_otherwise(products_dir,
                                                                        monkeypatch):
    monkeypatch.setattr(plain_jpeg, "simplejpeg", None)
    with pytest.raises(RecipeError, match=r"fast chroma upsampling, which needs simplejpeg"):
        preprocess(sample(products_dir, 1)[0].read_bytes(), PreprocessConfig())


def test_the_contract_upsamples_fast_and_artifacts_made_before_it_read_as_smooth():
    assert PreprocessConfig().jpeg_upsampling == "fast"
    old = PreprocessConfig().to_json().replace(', "jpeg_upsampling": "fast"', "")
    assert "jpeg_upsampling" not in old
    assert PreprocessConfig.from_json(old).jpeg_upsampling == "smooth"
    assert PreprocessConfig.from_json(PreprocessConfig().to_json()) == PreprocessConfig()
    with pytest.raises(RecipeError, match="jpeg_upsampling must be one of"):
        PreprocessConfig(jpeg_upsampling="fancy")


@pytest.mark.parametrize("dataset", ["products_dir", "street2shop_dir"])
def test_fast_upsampling_is_libjpegs_fast_decode_a_level_or_so_from_pils(request, dataset):
    import simplejpeg

    apart = []
    for path in sample(request.getfixturevalue(dataset), 40):
        data = path.read_bytes()
        fast = decode_plain_jpeg(data, fast_upsampling=True)
        np.testing.assert_array_equal(fast, simplejpeg.decode_jpeg(data, fastupsample=True))
        apart.append(np.abs(fast.astype(int) - np.asarray(load_image(data), int)).mean())
    assert 0.05 < np.mean(apart) < 1.0, np.mean(apart)


def oriented(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_fast_decode_turns_exif_rotated_photos_upright_as_pil_does(street2shop_dir,
                                                                      orientation):
    image = photo(sample(street2shop_dir / "person", 1)[0], (160, 224))
    data = oriented(image, orientation)
    upright = np.asarray(load_image(data), int)
    fast = decode_plain_jpeg(data, fast_upsampling=True)
    assert fast is not None and fast.shape == upright.shape
    assert np.abs(fast.astype(int) - upright).mean() < 1.5  # the same picture, turned alike
    stored = decode_plain_jpeg(encode(image, quality=95), fast_upsampling=True)
    assert sorted(fast.shape[:2]) == sorted(stored.shape[:2])
    assert decode_plain_jpeg(data, fast_upsampling=False) is None or orientation == 1


def test_a_fast_decode_reads_the_turn_from_xmp_as_pil_does():
    image = Image.new("RGB", (300, 200), (200, 40, 30))
    image.paste((10, 20, 240), (0, 0, 100, 200))
    data = xmp_rotated(image)
    upright = np.asarray(load_image(data), int)
    fast = decode_plain_jpeg(data, fast_upsampling=True)
    assert fast.shape == upright.shape == (300, 200, 3)
    assert np.abs(fast.astype(int) - upright).mean() < 1.5
