"""The colour descriptor on tensors equals the numpy reference, photo for photo, in batches."""

import numpy as np
import pytest
import torch

from fashion_search import colour
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.tensor_colour import colour_descriptors
from fashion_search.tensor_preprocessing import fit_batch, preprocess_batch
from tests.conftest import require
from tests.fashion_search.test_tensor_preprocessing import DEVICES

CONTRACT = PreprocessConfig()
SETS = {"products": "fashion-product-images/images/*.jpg",
        "clothing": "clothing-dataset-small/test/*/*.jpg",
        "street": "street2shop-dev/person/*.jpg"}


def reference(fitted: torch.Tensor) -> np.ndarray:
    return np.stack([colour.planes_descriptor(photo) for photo in fitted.cpu().numpy()])


@pytest.mark.integration
@pytest.mark.parametrize("photo_set", sorted(SETS))
@pytest.mark.parametrize("device", DEVICES)
def test_real_photos_get_the_reference_descriptor(photo_set, device):
    from tests.conftest import DATA

    files = sorted(require(DATA).glob(SETS[photo_set]))[:96]
    assert len(files) == 96
    fitted = fit_batch([f.read_bytes() for f in files], CONTRACT, device)
    got = colour_descriptors(fitted)
    assert got.device == fitted.device and got.shape == (96, colour.DIM)
    np.testing.assert_allclose(got.cpu().numpy(), reference(fitted), atol=1e-5, rtol=0)


@pytest.mark.unit
def test_pixels_on_the_bin_edges_fall_in_the_reference_bins():
    # 204/255 is float32(0.8), just above the float64 edge numpy compares it with
    levels = [0, 38, 39, 64, 102, 103, 127, 128, 140, 141, 178, 179, 204, 205, 255]
    rng = np.random.default_rng(3)
    photos = rng.choice(levels, size=(6, 3, 64, 64)).astype(np.uint8)
    photos[0] = 204  # one flat grey photo: all background
    fitted = torch.from_numpy(photos)
    np.testing.assert_allclose(colour_descriptors(fitted).numpy(), reference(fitted),
                               atol=1e-5, rtol=0)
    norms = np.linalg.norm(colour_descriptors(fitted).numpy(), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)


@pytest.mark.unit
def test_the_batch_keeps_its_colours_on_its_device_as_a_tensor():
    from tests.fashion_search.test_tensor_preprocessing import encode, photo

    pixels, colours = preprocess_batch([encode(photo(320, 240, seed)) for seed in range(3)],
                                       CONTRACT)
    assert isinstance(colours, torch.Tensor) and colours.device == pixels.device
    assert colours.shape == (3, colour.DIM) and colours.dtype == torch.float32
