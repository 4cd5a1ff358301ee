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
