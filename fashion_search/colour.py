"""A compact colour descriptor of a garment photo, beside the CNN embedding.

A CNN embedding is partly colour-blind (it is trained to find the same garment
under any light), while shoppers care about colour. The descriptor is a
hue/saturation/value histogram of the fitted photo, weighted towards its centre
and away from its background (the colour along the border), stored as the
square root of the normalised histogram: a unit vector whose dot product with
another is their Bhattacharyya coefficient (1 = the same colours).

It is computed by the server's ``preprocess`` step from the same decoded photo
as the model's pixels, so a query and the catalogue describe colour one way.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from fashion_search.errors import InvalidRequest

NAME = "hsv-centre-v1"  # collections record it; change it when the bins change
HUE_BINS = 12
SATURATION_EDGES = (0.15, 0.4, 0.7)  # below the first: grey; then low / mid / high
VALUE_EDGE = 0.55  # dark / light for colours
GREY_EDGES = (0.25, 0.5, 0.8)  # black / dark grey / light grey / white
DIM = HUE_BINS * (len(SATURATION_EDGES)) * 2 + len(GREY_EDGES) + 1
STEP = 4  # every 4th pixel of the fitted photo: colour needs no detail
BACKGROUND_DISTANCE = 0.12  # RGB distance (0..1.7) from the border colour that counts as background
BACKGROUND_WEIGHT = 0.1
DEFAULT_WEIGHT = 0.02  # chosen on validation photos and unseen pairs (docs/training.md)
MAX_WEIGHT = 1.0


def _hsv(r: np.ndarray, g: np.ndarray, b: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in [0, 1), saturation and value in [0, 1] from RGB planes in [0, 1]."""
    # elementwise across three planes: a reduction over a last axis of three is slow
    high = np.maximum(np.maximum(r, g), b)
    chroma = high - np.minimum(np.minimum(r, g), b)
    coloured = chroma > 0
    safe = np.where(coloured, chroma, 1.0)
    hue = np.where(high == r, ((g - b) / safe) % 6,
                   np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    hue = np.where(coloured, hue, 0.0)
    saturation = np.where(high > 0, chroma / np.where(high > 0, high, 1.0), 0.0)
    return hue % 1.0, saturation, high


@functools.lru_cache(maxsize=8)
def centre_weight(height: int, width: int) -> np.ndarray:
    """A Gaussian centre weight; the same for every photo of one size, so made once."""
    ys = (np.arange(height) + 0.5) / height - 0.5
    xs = (np.arange(width) + 0.5) / width - 0.5
    centre = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * 0.3 ** 2))
    centre.flags.writeable = False
    return centre


def _weights(planes: np.ndarray) -> np.ndarray:
    """Centre-weighted, with pixels close to the border's colour counted little."""
    border = np.concatenate([planes[:, 0], planes[:, -1], planes[:, :, 0], planes[:, :, -1]],
                            axis=1)
    background = np.median(border, axis=1)
    red, green, blue = planes - background[:, None, None]
    near = np.sqrt(red * red + green * green + blue * blue) < BACKGROUND_DISTANCE
    return centre_weight(*planes.shape[1:]) * np.where(near, BACKGROUND_WEIGHT, 1.0)


def colour_descriptor(fitted: np.ndarray) -> np.ndarray:
    """``DIM`` float32 values, unit L2 norm, from a fitted HxWx3 uint8 photo."""
    return planes_descriptor(np.asarray(fitted)[..., :3].transpose(2, 0, 1))


def planes_descriptor(planes: np.ndarray) -> np.ndarray:
    """:func:`colour_descriptor` of a photo held as uint8 channel planes (3, h, w)."""
    # Channel planes: numpy is slow along a last axis of three.
    planes = planes[:3, ::STEP, ::STEP].astype(np.float32, order="C") / 255.0
    weights = _weights(planes).ravel()
    hue, saturation, value = (part.ravel() for part in _hsv(*planes))
    grey = saturation < SATURATION_EDGES[0]
    grey_bin = HUE_BINS * len(SATURATION_EDGES) * 2 + np.searchsorted(GREY_EDGES, value[grey])
    colour = ~grey
    # Hue is soft-binned between the two nearest bin centres, so a hue on a bin
    # edge does not flip the descriptor.
    position = hue[colour] * HUE_BINS - 0.5
    lower = np.floor(position)
    upper_share = position - lower
    sat_bin = np.searchsorted(SATURATION_EDGES, saturation[colour], side="right") - 1
    val_bin = (value[colour] >= VALUE_EDGE).astype(np.int64)
    cell = (sat_bin * 2 + val_bin) * HUE_BINS
    coloured = weights[colour]
    # One weighted count over every pixel's bins: grey, then each hue's two shares.
    bins = np.concatenate([grey_bin, cell + (lower % HUE_BINS).astype(np.int64),
                           cell + ((lower + 1) % HUE_BINS).astype(np.int64)])
    shares = np.concatenate([weights[grey], coloured * (1 - upper_share), coloured * upper_share])
    histogram = np.bincount(bins, shares, minlength=DIM)
    total = histogram.sum()
    if total <= 0:  # cannot happen with positive weights; keeps the vector unit anyway
        histogram[-1], total = 1.0, 1.0
    return np.sqrt(histogram / total).astype(np.float32)


def check_weight(weight: float) -> float:
    """The colour weight, refused with a reason when out of range."""
    weight = float(weight)
    if math.isnan(weight) or not 0.0 <= weight <= MAX_WEIGHT:
        raise InvalidRequest(f"the colour weight must be between 0 and {MAX_WEIGHT:g}, got "
                             f"{weight:g}; 0 ignores colour, {DEFAULT_WEIGHT:g} is the default")
    return weight
