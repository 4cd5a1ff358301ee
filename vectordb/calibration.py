"""Scores people can read: a raw similarity as a share of a catalogue's typical neighbours.

After fine-tuning, cosine similarities crowd near 1 (two different shoes score
0.99), so the raw number tells a shopper nothing. The scale is measured on the
collection itself: sampled items search their own nearest neighbours, and a
result's calibrated score is the share of those neighbour similarities it
beats. 1.0 reads "closer than an item's usual near neighbours", 0.5 "as close
as a typical one of the nearest hundred". The map is monotone, so rankings
never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE = 256  # items that search their neighbours
NEIGHBOURS = 100  # each one's nearest, itself left out
POINTS = 101  # quantiles kept


@dataclass(frozen=True)
class ScoreScale:
    quantiles: np.ndarray  # raw similarities at evenly spaced shares 0..1, ascending

    def __call__(self, score: float) -> float:
        shares = np.linspace(0.0, 1.0, len(self.quantiles))
        return float(np.interp(score, self.quantiles, shares))

    @classmethod
    def fit(cls, neighbour_scores: np.ndarray) -> ScoreScale | None:
        """The scale from pooled neighbour similarities; None when there are too few."""
        scores = np.asarray(neighbour_scores, dtype=np.float64).ravel()
        if scores.size < 2:
            return None
        quantiles = np.quantile(scores, np.linspace(0.0, 1.0, POINTS))
        return cls(np.maximum.accumulate(quantiles))


def spread_sample(ids: list[str], count: int = SAMPLE) -> list[str]:
    """``count`` ids spread evenly over ``ids`` (catalogues are often sorted by category)."""
    if len(ids) <= count:
        return list(ids)
    step = len(ids) / count
    return [ids[int(i * step)] for i in range(count)]
