"""Training views: the recipe's view settings reach the augmentation, and erasing hides a patch."""

import random

import numpy as np
import pytest
from PIL import Image

from fashion_search.training.augment import AugmentConfig, erase_patch
from fashion_search.training.config import TrainConfig

pytestmark = pytest.mark.unit


def test_the_default_recipe_uses_the_default_views():
    recipe = TrainConfig()
    assert AugmentConfig(min_area=recipe.view_min_area, erasing=recipe.view_erasing) == \
        AugmentConfig()


def test_erasing_hides_one_flat_patch_and_keeps_the_size():
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (120, 90, 3), dtype=np.uint8))
    erased = erase_patch(photo, random.Random(3))
    before, after = np.asarray(photo), np.asarray(erased)
    changed = (before != after).any(axis=2)
    assert erased.size == photo.size
    assert 0.01 < changed.mean() < 0.25
    rows, cols = np.nonzero(changed)
    patch = after[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert (patch == patch[0, 0]).all()  # one flat grey rectangle


def test_random_crops_of_a_long_narrow_photo_that_serving_accepts_always_fit():
    # Crops change the aspect: a 44:1 photo gives crops past the 50:1 that serving refuses.
    from fashion_search.preprocessing import PreprocessConfig, check_fit
    from fashion_search.training.augment import augmented_pixels

    contract = PreprocessConfig()
    image = Image.new("RGB", (4400, 100), (120, 40, 40))
    check_fit(*image.size, contract)
    for seed in range(50):
        pixels = augmented_pixels(image, contract, AugmentConfig(), random.Random(seed))
        assert pixels.shape == contract.input_shape
