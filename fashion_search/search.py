"""Photo in, similar catalogue items out: the one path every front end uses."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fashion_search.client import EmbeddingClient
from fashion_search.errors import EmbeddingError, ImageError, NoClassifier
from fashion_search.vectordb.schema import Hit
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)

AUTO = "auto"  # category "auto": search within the category the model sees in the photo


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    suggestions: list[tuple[str, float]] = field(default_factory=list)  # (category, probability)
    category: str | None = None  # the category searched within


@dataclass
class VisualSearch:
    client: EmbeddingClient
    store: CatalogStore

    def categories(self) -> list[str]:
        return self.store.categories()

    def find(self, photo: bytes, k: int = 10, category: str | None = None,
             name: str = "photo", suggestions: int = 3,
             where: Mapping[str, Sequence[str]] | None = None) -> Results:
        """Top ``k`` look-alikes and the categories the model sees in ``photo``.

        ``category="auto"`` searches within the most likely category that the
        catalogue has. ImageError names the photo if it is unreadable.
        """
        try:
            embeddings, probabilities = self.client.predict([photo])
        except EmbeddingError as err:
            raise ImageError(f"{name}: {err.reason}") from err
        ranked: list[tuple[str, float]] = []
        if probabilities is not None:
            labels = self.client.info().labels
            order = np.argsort(-probabilities[0])
            ranked = [(labels[i], float(probabilities[0][i])) for i in order]
        if category and category.strip().lower() == AUTO:
            category = self._auto_category(ranked)
        hits = self.store.search(embeddings[0], k=k, category=category or None, where=where)
        return Results(hits, ranked[:suggestions], category or None)

    def _auto_category(self, ranked: list[tuple[str, float]]) -> str:
        if not ranked:
            raise NoClassifier("the served model has no category classifier, so it cannot pick "
                               "the category; train one with `fashion-search train` or name a "
                               "category")
        known = {c.casefold(): c for c in self.categories()}
        for label, _ in ranked:
            if label.casefold() in known:
                return known[label.casefold()]
        raise NoClassifier("none of the model's categories is in this catalogue; name one of: "
                           + ", ".join(known.values()))

    def search(self, photo: bytes, k: int = 10, category: str | None = None,
               name: str = "photo", where: Mapping[str, Sequence[str]] | None = None
               ) -> list[Hit]:
        """Top ``k`` look-alikes of ``photo``."""
        return self.find(photo, k, category, name, where=where).hits
