"""The colour descriptor: unit length, colour-sensitive, background-blind."""

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fashion_search import colour
from fashion_search.errors import InvalidRequest

pytestmark = pytest.mark.unit


def garment(fill, background=(255, 255, 255), size=224) -> np.ndarray:
    image = Image.new("RGB", (size, size), background)
    ImageDraw.Draw(image).rectangle((56, 40, 168, 190), fill=fill)
    return np.asarray(image)


def similarity(a, b) -> float:
    return float(colour.colour_descriptor(a) @ colour.colour_descriptor(b))


def test_the_descriptor_is_a_unit_vector_of_the_declared_size():
    found = colour.colour_descriptor(garment((200, 30, 40)))
    assert found.shape == (colour.DIM,) and found.dtype == np.float32
    assert np.linalg.norm(found) == pytest.approx(1.0, abs=1e-5)


def test_channel_planes_give_the_same_descriptor_as_the_photo():
    photo = garment((40, 160, 90), background=(230, 220, 200))
    planes = np.ascontiguousarray(photo.transpose(2, 0, 1))
    np.testing.assert_array_equal(colour.planes_descriptor(planes),
                                  colour.colour_descriptor(photo))


def test_a_red_garment_is_closer_to_a_dark_red_one_than_to_a_blue_one():
    red, dark_red, blue = garment((210, 30, 40)), garment((150, 20, 30)), garment((30, 50, 200))
    assert similarity(red, dark_red) > similarity(red, blue) + 0.3


def test_the_same_garment_on_another_plain_background_keeps_its_colour():
    on_white = garment((210, 30, 40), background=(255, 255, 255))
    on_grey = garment((210, 30, 40), background=(120, 120, 120))
    blue_on_white = garment((30, 50, 200), background=(255, 255, 255))
    assert similarity(on_white, on_grey) > 0.8
    assert similarity(on_white, on_grey) > similarity(on_white, blue_on_white) + 0.4


def test_black_white_and_grey_garments_are_told_apart():
    black, white = garment((10, 10, 10), (128, 160, 128)), garment((250, 250, 250), (128, 160, 128))
    assert similarity(black, white) < 0.5


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_a_colour_weight_out_of_range_is_refused_with_the_range(bad):
    with pytest.raises(InvalidRequest, match="between 0 and 1"):
        colour.check_weight(bad)
