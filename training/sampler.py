"""Batches that always contain positives for the metric loss.

A batch holds ``pairs`` whole same-item pairs (both photos) and ``classes``
categories with ``per_class`` photos each, so every sample has at least one
positive beside it. An epoch visits every training pair once.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fashion_search.errors import RecipeError


@dataclass(frozen=True)
class Batch:
    pairs: list[int]       # indices into the pair list
    categorised: list[int]  # indices into the categorised photos


class PairAndClassSampler:
    """Yields :class:`Batch` es; deterministic for a given seed and epoch."""

    def __init__(self, pair_count: int, category_labels: Sequence[int], pairs: int,
                 classes: int, per_class: int, seed: int = 0):
        if pair_count == 0 and not category_labels:
            raise RecipeError("nothing to train on: no pairs and no categorised photos; give "
                              "--pairs or --categories")
        self.pair_count = pair_count
        self.pairs = pairs if pair_count else 0
        self.by_class: dict[int, list[int]] = defaultdict(list)
        for index, label in enumerate(category_labels):
            self.by_class[label].append(index)
        self.classes = min(classes, len(self.by_class))
        self.per_class = per_class
        self.seed = seed
        category_batch = self.classes * per_class
        if self.pairs:
            self.steps = -(-pair_count // self.pairs)
        else:
            self.steps = max(1, len(category_labels) // max(1, category_batch))

    def __len__(self) -> int:
        return self.steps

    def epoch(self, epoch: int) -> Iterator[Batch]:
        rng = random.Random(f"{self.seed}:{epoch}")
        order = list(range(self.pair_count))
        rng.shuffle(order)
        labels = sorted(self.by_class)
        for step in range(self.steps):
            pairs = order[step * self.pairs:(step + 1) * self.pairs] if self.pairs else []
            chosen = rng.sample(labels, self.classes) if self.classes else []
            categorised = []
            for label in chosen:
                members = self.by_class[label]
                if len(members) >= self.per_class:
                    categorised.extend(rng.sample(members, self.per_class))
                else:
                    categorised.extend(rng.choices(members, k=self.per_class))
            yield Batch(pairs, categorised)
