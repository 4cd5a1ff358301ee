"""Training views of a photo: crops, flips and gentle colour changes.

Colour is kept nearly intact (no hue shift, small saturation change) because
colour is much of what makes two garments look alike. Every view ends in the
preprocessing contract's own fit and normalisation.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from fashion_search.preprocessing import PreprocessConfig, to_pixels


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges for random views; view 0 of every photo is the plain contract view."""

    min_area: float = 0.6
    max_aspect_change: float = 4 / 3
    flip: float = 0.5
    brightness: float = 0.15
    contrast: float = 0.15
    saturation: float = 0.1
    erasing: float = 0.0  # chance of hiding one random patch (2-20% of the view)


def random_crop(image: Image.Image, config: AugmentConfig, rng: random.Random) -> Image.Image:
    """A crop covering ``min_area``..1 of the photo with a slightly changed aspect."""
    width, height = image.size
    for _ in range(10):
        area = width * height * rng.uniform(config.min_area, 1.0)
        log_ratio = math.log(config.max_aspect_change)
        ratio = math.exp(rng.uniform(-log_ratio, log_ratio)) * width / height
        w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return image.crop((left, top, left + w, top + h))
    return image


def jitter_colour(image: Image.Image, config: AugmentConfig, rng: random.Random) -> Image.Image:
    for enhancer, amount in ((ImageEnhance.Brightness, config.brightness),
                             (ImageEnhance.Contrast, config.contrast),
                             (ImageEnhance.Color, config.saturation)):
        if amount:
            image = enhancer(image).enhance(rng.uniform(1 - amount, 1 + amount))
    return image


def erase_patch(image: Image.Image, rng: random.Random) -> Image.Image:
    """Hide a random patch with a flat grey, so no single region decides the embedding."""
    width, height = image.size
    area = width * height * rng.uniform(0.02, 0.2)
    ratio = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
    w, h = min(width, round(math.sqrt(area * ratio))), min(height, round(math.sqrt(area / ratio)))
    left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    image = image.copy()
    image.paste((rng.randint(0, 255),) * 3, (left, top, left + w, top + h))
    return image


def augmented_pixels(
    image: Image.Image, contract: PreprocessConfig, config: AugmentConfig, rng: random.Random
) -> np.ndarray:
    """One random training view, as the model's normalised input."""
    image = random_crop(image, config, rng)
    if rng.random() < config.flip:
        image = ImageOps.mirror(image)
    image = jitter_colour(image, config, rng)
    if config.erasing and rng.random() < config.erasing:
        image = erase_patch(image, rng)
    return to_pixels(image, contract)
