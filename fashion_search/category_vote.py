"""Which of a catalogue's categories a photo shows: its nearest catalogue items vote.

The classifier knows only its training categories (dress, t-shirt, ...), which
a catalogue may name otherwise ("Tshirts", "Tops"). The nearest catalogue
items carry the catalogue's own names, so they vote, each weighted by how
close it is; the classifier's probabilities join as a prior for the
categories whose names it shares with the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

NEIGHBOURS = 10  # chosen on held-out validation photos (docs/training.md)
TEMPERATURE = 0.05  # similarity differences of this size weigh e times more
PRIOR_WEIGHT = 0.0  # share of the classifier where its names match; 0 won on validation (docs/training.md)


def vote(categories: Sequence[str], scores: Sequence[float],
         prior: Mapping[str, float] | None = None, known: Sequence[str] = (),
         temperature: float = TEMPERATURE, prior_weight: float = PRIOR_WEIGHT
         ) -> list[tuple[str, float]]:
    """(category, share) of the catalogue's categories, most likely first.

    ``categories`` and ``scores`` are the query's nearest items, closest first;
    ``prior`` maps classifier labels to probabilities; ``known`` lists the
    catalogue's categories, for matching the classifier's labels by name.
    """
    shares: dict[str, float] = {}
    if len(categories):
        values = np.asarray(scores, dtype=np.float64)
        weights = np.exp((values - values.max()) / temperature)
        for category, weight in zip(categories, weights / weights.sum()):
            shares[category] = shares.get(category, 0.0) + float(weight)
    matched = _matched_prior(prior or {}, known or list(shares))
    if matched and shares:
        shares = {c: (1 - prior_weight) * shares.get(c, 0.0) + prior_weight * matched.get(c, 0.0)
                  for c in set(shares) | set(matched)}
    elif matched:
        shares = matched
    return sorted(shares.items(), key=lambda item: (-item[1], item[0]))


def _matched_prior(prior: Mapping[str, float], known: Sequence[str]) -> dict[str, float]:
    """The classifier's probabilities of the catalogue's categories, renormalised."""
    names = {c.casefold(): c for c in known}
    matched = {names[label.casefold()]: float(p) for label, p in prior.items()
               if label.casefold() in names}
    total = sum(matched.values())
    return {c: p / total for c, p in matched.items()} if total > 0 else {}
