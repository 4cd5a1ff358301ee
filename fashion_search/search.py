"""Photo in, similar catalogue items out: the one path every front end uses."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fashion_search.client import EmbeddingClient, EmbeddingError
from fashion_search.images import ImageError
from fashion_search.vectordb.store import CatalogStore, Hit

log = logging.getLogger(__name__)


@dataclass
class VisualSearch:
    client: EmbeddingClient
    store: CatalogStore

    def categories(self) -> list[str]:
        return self.store.categories()

    def search(self, photo: bytes, k: int = 10, category: str | None = None,
               name: str = "photo") -> list[Hit]:
        """Top ``k`` look-alikes of ``photo``; ImageError names the photo if unreadable."""
        try:
            vector = self.client.embed_one(photo)
        except EmbeddingError as err:
            raise ImageError(f"{name}: {err.reason}") from err
        return self.store.search(vector, k=k, category=category or None)
