"""The colour descriptor on tensors, for a batch of fits at once, on the fits' device.

:mod:`fashion_search.colour` is the reference (numpy, one photo at a time);
this is the same descriptor, step for step, on a (N, 3, size, size) uint8 batch,
so a GPU ``preprocess`` never copies its fits back to the CPU for colour, and a
CPU one describes a batch in a few tensor operations instead of a Python loop.
Values agree with the reference to float rounding (tested on real photos).
"""

from __future__ import annotations

import functools

import torch

from fashion_search.colour import (
    BACKGROUND_DISTANCE,
    BACKGROUND_WEIGHT,
    DIM,
    GREY_EDGES,
    HUE_BINS,
    SATURATION_EDGES,
    STEP,
    VALUE_EDGE,
    centre_weight,
)


@functools.lru_cache(maxsize=16)
def _constants(height: int, width: int, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The centre weight and the bin edges on ``device``, made once per size and device."""
    centre = torch.from_numpy(centre_weight(height, width).copy()).to(device)
    # float64 edges, as numpy's searchsorted compares: float32(0.8) is above 0.8
    return (centre, torch.tensor(SATURATION_EDGES, dtype=torch.float64, device=device),
            torch.tensor(GREY_EDGES, dtype=torch.float64, device=device))


def _median(values: torch.Tensor) -> torch.Tensor:
    """numpy's median along the last axis: the mean of the two middle values when even."""
    ordered = values.sort(dim=-1).values
    n = values.shape[-1]
    return (ordered[..., (n - 1) // 2] + ordered[..., n // 2]) / 2


def _hsv(planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue in [0, 1), saturation and value in [0, 1] from (N, 3, h, w) RGB in [0, 1]."""
    r, g, b = planes.unbind(1)
    high = torch.maximum(torch.maximum(r, g), b)
    chroma = high - torch.minimum(torch.minimum(r, g), b)
    coloured = chroma > 0
    safe = torch.where(coloured, chroma, torch.ones_like(chroma))
    hue = torch.where(high == r, torch.remainder((g - b) / safe, 6),
                      torch.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    hue = torch.where(coloured, hue, torch.zeros_like(hue))
    saturation = torch.where(high > 0, chroma / torch.where(high > 0, high, torch.ones_like(high)),
                             torch.zeros_like(high))
    return torch.remainder(hue, 1.0), saturation, high


def colour_descriptors(fitted: torch.Tensor) -> torch.Tensor:
    """(N, ``DIM``) float32 unit vectors from (N, 3, H, W) uint8 fits, on their device."""
    planes = fitted[:, :3, ::STEP, ::STEP].float() / 255.0
    count, _, height, width = planes.shape
    centre, saturation_edges, grey_edges = _constants(height, width, planes.device)
    border = torch.cat([planes[:, :, 0], planes[:, :, -1], planes[:, :, :, 0],
                        planes[:, :, :, -1]], dim=2)
    background = _median(border)
    red, green, blue = (planes - background[:, :, None, None]).unbind(1)
    distance = (red * red + green * green + blue * blue).sqrt()  # the reference's order
    weights = centre * torch.where(distance < BACKGROUND_DISTANCE,
                                   torch.tensor(BACKGROUND_WEIGHT, dtype=centre.dtype,
                                                device=centre.device),
                                   torch.tensor(1.0, dtype=centre.dtype, device=centre.device))
    hue, saturation, value = (part.reshape(count, -1) for part in _hsv(planes))
    weights = weights.reshape(count, -1)
    grey = saturation < SATURATION_EDGES[0]
    grey_bin = (HUE_BINS * len(SATURATION_EDGES) * 2
                + torch.bucketize(value.double(), grey_edges))  # numpy's searchsorted, side left
    # a hue soft-binned between its two nearest bin centres, as in the reference
    position = hue * HUE_BINS - 0.5
    lower = torch.floor(position)
    upper_share = (position - lower).to(weights.dtype)
    sat_bin = torch.bucketize(saturation.double(), saturation_edges, right=True) - 1  # side right
    val_bin = (value >= VALUE_EDGE).long()
    cell = (sat_bin * 2 + val_bin) * HUE_BINS
    low_bin = cell + torch.remainder(lower, HUE_BINS).long()
    high_bin = cell + torch.remainder(lower + 1, HUE_BINS).long()
    zero = torch.zeros_like(weights)
    histogram = torch.zeros(count, DIM, dtype=weights.dtype, device=weights.device)
    # grey pixels count once in their grey bin; the others twice, split between two hues
    histogram.scatter_add_(1, torch.where(grey, grey_bin, low_bin),
                           torch.where(grey, weights, weights * (1 - upper_share)))
    histogram.scatter_add_(1, torch.where(grey, grey_bin, high_bin),
                           torch.where(grey, zero, weights * upper_share))
    total = histogram.sum(1, keepdim=True)
    empty = total[:, 0] <= 0  # cannot happen with positive weights; keeps the vector unit
    histogram[empty, -1], total[empty] = 1.0, 1.0
    return (histogram / total).sqrt().float()
