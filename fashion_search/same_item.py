"""How likely a search result is the very product in a street photo.

A catalogue's own scale (vectordb/calibration.py) says how a result compares
with the catalogue's near neighbours; a street photo's right answer scores
below those (other light, a body, a background), so on that scale it reads
as a few percent. This scale is fitted on street-to-shop pairs training held
out: each pair's street photo searches the products, and the scale is the
share of results at a given score and rank that were the right product, among
the first :data:`SHOWN` a shopper sees. Rank counts: at one score, a first
result is right more often than a fifth, which has four better ones above it.
The first result is read by its lead over the second instead (a clear winner
is right far more often than one in a crowd). It is fitted per colour weight,
since the score blends colour; it rises with the score and, read down a result
list, never rises, so rankings never change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

SHOWN = 20  # results per query that fit the scale: the ones a shopper looks at
WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # colour weights fitted
RANKS = (1, 2, 4, 11)  # rank groups fitted apart: 1, 2-3, 4-10, 11 and on
BINS = 16  # equal-count score bins per group before the monotone fit


@dataclass(frozen=True)
class SameItemScale:
    """Per colour weight and rank group, score knots and the chance of the right product."""

    weights: tuple[float, ...]
    ranks: tuple[int, ...]  # the first rank of each group
    # [weight][group] -> ascending scores; one more group at the end: every rank together
    knots: tuple[tuple[tuple[float, ...], ...], ...]
    chances: tuple[tuple[tuple[float, ...], ...], ...]
    gallery: int = 0  # products searched when it was fitted
    # [weight] -> (margins, chances): the first result by its lead over the second, which
    # tells a right first result from a wrong one far better than its score does
    lead: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()

    def __call__(self, score: float, weight: float = 0.0, rank: int = 1) -> float:
        n = self._nearest(weight)
        group = max(g for g, first in enumerate(self.ranks) if first <= max(rank, 1))
        knots, chances = self.knots[n][group], self.chances[n][group]
        chance = float(np.interp(score, knots, chances))
        if score < knots[0]:  # below what the group saw, the fit over every rank decides
            chance = min(chance, float(np.interp(score, self.knots[n][-1], self.chances[n][-1])))
        return chance

    def read(self, scores: list[float], weight: float = 0.0) -> list[float]:
        """The chances of a ranked result list: never rising down the list."""
        chances, ceiling = [], 1.0
        for rank, score in enumerate(scores, 1):
            ceiling = min(ceiling, self(score, weight, rank))
            if rank == 1 and len(scores) > 1 and self.lead:
                margins, sure = self.lead[self._nearest(weight)]
                ceiling = float(np.interp(score - scores[1], margins, sure))
            chances.append(ceiling)
        return chances

    def _nearest(self, weight: float) -> int:
        return int(np.argmin([abs(w - weight) for w in self.weights]))

    def to_json(self) -> str:
        return json.dumps({"weights": self.weights, "ranks": self.ranks, "knots": self.knots,
                           "chances": self.chances, "gallery": self.gallery,
                           "lead": self.lead})

    @classmethod
    def from_json(cls, text: str | None) -> SameItemScale | None:
        """The scale a model carries; None for a model without one (or unreadable text)."""
        if not text:
            return None
        try:
            data = json.loads(text)

            def nested(rows):
                return tuple(tuple(tuple(map(float, r)) for r in row) for row in rows)

            scale = cls(tuple(map(float, data["weights"])), tuple(map(int, data["ranks"])),
                        nested(data["knots"]), nested(data["chances"]),
                        int(data.get("gallery", 0)), nested(data.get("lead", [])))
        except (ValueError, KeyError, TypeError):
            return None
        shape = (len(scale.weights), len(scale.ranks))
        if ((len(scale.knots), len(scale.knots[0]) - 1) != shape or scale.ranks[0] != 1
                or len(scale.lead) not in (0, len(scale.weights))):
            return None
        return scale


def monotone_fit(scores: np.ndarray, right: np.ndarray, bins: int = BINS
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(knots, chances): the share of right results by score, never decreasing.

    Equal-count bins, then pool-adjacent-violators over the bins' shares.
    """
    order = np.argsort(scores, kind="stable")
    scores, right = np.asarray(scores, np.float64)[order], np.asarray(right, np.float64)[order]
    groups = [g for g in np.array_split(np.arange(len(scores)), min(bins, len(scores))) if len(g)]
    blocks = [[float(right[g].sum()), float(len(g)), [float(scores[g].mean())]] for g in groups]
    pooled: list[list] = []
    for block in blocks:
        pooled.append(block)
        while len(pooled) > 1 and pooled[-2][0] / pooled[-2][1] > pooled[-1][0] / pooled[-1][1]:
            last = pooled.pop()
            pooled[-1] = [pooled[-1][0] + last[0], pooled[-1][1] + last[1],
                          pooled[-1][2] + last[2]]
    knots, chances = [], []
    for hits, count, centres in pooled:  # a pooled block is flat over its bins' centres
        for centre in centres:
            knots.append(centre)
            chances.append(hits / count)
    return np.asarray(knots), np.asarray(chances)


def fit_same_item(queries: np.ndarray, gallery: np.ndarray, matches: np.ndarray,
                  query_colours: np.ndarray | None = None,
                  gallery_colours: np.ndarray | None = None,
                  weights: tuple[float, ...] = WEIGHTS, shown: int = SHOWN) -> SameItemScale:
    """Fit on held-out pairs: row ``i`` of ``queries`` is the street photo of product
    ``matches[i]`` among the rows of ``gallery`` (unit embeddings, unit colours)."""
    shape = queries @ gallery.T
    shade = (query_colours @ gallery_colours.T if query_colours is not None
             and gallery_colours is not None else None)
    matches = np.asarray(matches)
    shown = min(shown, len(gallery))
    rank = np.broadcast_to(np.arange(1, shown + 1), (len(queries), shown))
    ranks = tuple(first for first in RANKS if first <= shown)
    groups = [(rank >= first) & (rank < (ranks + (shown + 1,))[g + 1])
              for g, first in enumerate(ranks)]
    fitted_weights, knots, chances, leads = [], [], [], []
    for weight in weights if shade is not None else (0.0,):
        scores = shape if shade is None else (shape + weight * shade) / (1.0 + weight)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :shown]
        picked = np.take_along_axis(scores, top, axis=1)
        right = top == matches[:, None]
        fits = [monotone_fit(picked[g], right[g]) for g in groups]
        fits.append(monotone_fit(picked.ravel(), right.ravel()))
        if shown > 1:
            leads.append(tuple(map(tuple, monotone_fit(picked[:, 0] - picked[:, 1],
                                                       right[:, 0]))))
        fitted_weights.append(weight)
        knots.append(tuple(tuple(k) for k, _ in fits))
        chances.append(tuple(tuple(c) for _, c in fits))
    return SameItemScale(tuple(fitted_weights), ranks, tuple(knots), tuple(chances),
                         len(gallery), tuple(leads))
