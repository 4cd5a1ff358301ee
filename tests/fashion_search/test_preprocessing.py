"""The preprocessing contract: one definition, carried by every artifact."""

import io

import numpy as np
import pytest
from PIL import Image

from fashion_search.colour import colour_descriptor
from fashion_search.errors import ImageError
from fashion_search.images import load_image
from fashion_search.preprocessing import (
    PreprocessConfig,
    channel_planes,
    fit_image,
    normalise,
    preprocess,
    preprocess_photos,
)

pytestmark = pytest.mark.unit


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 100, 50)).save(out, format="JPEG")
    return out.getvalue()


@pytest.mark.parametrize("size", [(400, 533), (533, 400), (224, 224), (50, 900)])
def test_every_shape_becomes_the_model_input(size):
    contract = PreprocessConfig()
    pixels = preprocess(jpeg(*size), contract)
    assert pixels.shape == contract.input_shape
    assert pixels.dtype == np.float32


def test_normalised_pixels_are_planes_in_memory_order_per_channel():
    rng = np.random.default_rng(0)
    fitted = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    contract = PreprocessConfig(mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    planes = normalise(fitted, contract)
    assert planes.flags["C_CONTIGUOUS"] and planes.shape == (3, 32, 32)
    expected = (fitted / 255.0 - np.array(contract.mean)) / np.array(contract.std)
    np.testing.assert_allclose(planes, expected.transpose(2, 0, 1), atol=1e-5)


def test_a_photo_split_by_pil_gives_the_planes_of_its_array():
    rng = np.random.default_rng(2)
    array = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    planes = channel_planes(Image.fromarray(array))
    assert planes.dtype == np.uint8 and planes.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(planes, array.transpose(2, 0, 1))
    np.testing.assert_array_equal(planes, channel_planes(array))


@pytest.mark.parametrize("fit", ["shorter_side_center_crop", "pad_to_square"])
def test_a_photo_already_at_the_input_size_keeps_its_pixels(fit):
    rng = np.random.default_rng(3)
    array = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    fitted = fit_image(Image.fromarray(array), PreprocessConfig(size=32, fit=fit))
    np.testing.assert_array_equal(np.asarray(fitted), array)


def test_normalisation_follows_mean_and_std():
    contract = PreprocessConfig()
    white = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(white, format="PNG")
    pixels = preprocess(white.getvalue(), contract)
    expected = (1.0 - np.array(contract.mean)) / np.array(contract.std)
    np.testing.assert_allclose(pixels[:, 10, 10], expected, atol=1e-6)


def test_center_crop_keeps_the_middle_of_a_tall_photo():
    image = Image.new("RGB", (100, 300), (0, 0, 0))
    image.paste((255, 255, 255), (0, 60, 100, 240))
    fitted = np.asarray(fit_image(image, PreprocessConfig(size=32)))
    assert fitted.min() > 240


def test_pad_to_square_keeps_the_whole_photo():
    image = Image.new("RGB", (100, 300), (0, 0, 0))
    fitted = np.asarray(fit_image(image, PreprocessConfig(size=30, fit="pad_to_square")))
    assert fitted[15, 15].max() < 10 and fitted[15, 0].min() > 240


def test_contract_round_trips_through_json():
    contract = PreprocessConfig(size=260, fit="pad_to_square", interpolation="bilinear")
    assert PreprocessConfig.from_json(contract.to_json()) == contract


def test_unknown_fit_mode_is_refused():
    with pytest.raises(ValueError, match="fit must be one of"):
        PreprocessConfig(fit="stretch")


def test_a_batch_equals_its_photos_one_by_one_with_their_colours():
    contract = PreprocessConfig()
    rng = np.random.default_rng(1)
    photos = []
    for size in [(400, 533), (224, 224), (900, 50)]:
        out = io.BytesIO()
        Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(
            out, format="PNG")
        photos.append(out.getvalue())
    pixels, colours = preprocess_photos(photos, contract, colours=True)
    assert pixels.shape == (3, *contract.input_shape) and pixels.flags.c_contiguous
    for index, data in enumerate(photos):
        np.testing.assert_array_equal(pixels[index], preprocess(data, contract))
        fitted = np.asarray(fit_image(load_image(data, draft_size=contract.size), contract))
        np.testing.assert_array_equal(colours[index], colour_descriptor(fitted))
    assert preprocess_photos(photos, contract)[1] is None


def test_a_bad_photo_in_a_batch_is_named():
    with pytest.raises(ImageError, match="second.jpg"):
        preprocess_photos([jpeg(64, 64), b"not a photo"], PreprocessConfig(),
                          names=["first.jpg", "second.jpg"])


def test_a_batch_is_written_into_the_buffer_it_is_given():
    contract = PreprocessConfig()
    photos = [jpeg(300, 200), jpeg(224, 224)]
    buffer = np.full((4, *contract.input_shape), np.nan, dtype=np.float32)
    pixels, _ = preprocess_photos(photos, contract, out=buffer)
    assert pixels.shape[0] == 2 and np.shares_memory(pixels, buffer)
    np.testing.assert_array_equal(buffer[:2], preprocess_photos(photos, contract)[0])
    assert np.isnan(buffer[2:]).all()


@pytest.mark.parametrize("shape, dtype", [((1, 3, 224, 224), np.float32),
                                          ((2, 3, 112, 112), np.float32),
                                          ((2, 3, 224, 224), np.float64)])
def test_a_buffer_that_cannot_hold_the_batch_is_refused(shape, dtype):
    with pytest.raises(ValueError, match="cannot hold 2 photos"):
        preprocess_photos([jpeg(64, 64)] * 2, PreprocessConfig(), out=np.empty(shape, dtype))
