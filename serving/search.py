"""Photo in, similar catalogue items out: the one path every front end uses."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from fashion_search import colour
from fashion_search.category_vote import NEIGHBOURS, vote
from fashion_search.client import EmbeddingClient
from fashion_search.errors import (
    CatalogNotIndexed,
    CollectionMismatch,
    ConfigError,
    EmbeddingError,
    ImageError,
)
from fashion_search.garment_client import GarmentClient
from fashion_search.garments import AUTO as AUTO_GARMENT
from fashion_search.garments import MARGIN, Garment, choose_garment, crop_box, with_whole
from fashion_search.same_item import SameItemScale
from fashion_search.vectordb.schema import SAME_ITEM, CollectionInfo, Hit
from fashion_search.vectordb.store import CatalogStore
from fashion_search.vectordb.vectors import effective_weight

log = logging.getLogger(__name__)

AUTO = "auto"  # category "auto": search within the category the photo most likely shows
# A best result that beats under this share of the catalogue's own neighbour similarities:
# the photo is not of the catalogue's kind (a street photo), so its matches read on the
# street-pair scale. Chosen on validation photos against the product catalogue: 76% of
# street photos read so, 15% of product photos (0.5: 46% and 4%; 0.7: 94% and 32%); a
# street photo left on the catalogue's scale still reads 60% or more at its first result.
FROM_ELSEWHERE_BELOW = 0.6


def read_matches(hits: list[Hit], same_item: SameItemScale | None, weight: float
                 ) -> list[Hit]:
    """Each hit's match on the scale the query calls for; one scale per query, so the
    ranking is kept.

    A photo much like the catalogue's reads as look-alikes among its neighbours; a
    photo from elsewhere, whose best result sits below the catalogue's usual
    neighbours, reads as the chance each result is its product.
    """
    if same_item is None or not hits:
        return hits
    best = hits[0].match
    if best is not None and best >= FROM_ELSEWHERE_BELOW:
        return hits
    chances = same_item.read([h.score for h in hits], weight)
    return [replace(h, match=c, reading=SAME_ITEM) for h, c in zip(hits, chances)]


@dataclass(frozen=True)
class Results:
    hits: list[Hit]
    suggestions: list[tuple[str, float]] = field(default_factory=list)  # (category, share)
    category: str | None = None  # the category searched within
    colour_weight: float = 0.0  # the weight applied (0 when the server gives no colour)
    garment: Garment | None = None  # the garment searched, when one of the photo's was
    garments: list[Garment] = field(default_factory=list)  # all the finder found


@dataclass
class VisualSearch:
    client: EmbeddingClient
    store: CatalogStore
    finder: GarmentClient | None = None  # finds the garments to search one of

    def categories(self) -> list[str]:
        return self.store.categories()

    def find(self, photo: bytes, k: int = 10, category: str | None = None,
             name: str = "photo", suggestions: int = 3,
             where: Mapping[str, Sequence[str]] | None = None,
             colour_weight: float = colour.DEFAULT_WEIGHT, garment: str | None = None
             ) -> Results:
        """Top ``k`` look-alikes and the catalogue categories the photo most likely shows.

        ``category="auto"`` searches within the most likely one, as voted by the
        photo's nearest catalogue items with the classifier as a prior.
        ``colour_weight`` (0..1) weighs colour similarity against the
        embedding's. ``suggestions=0`` skips the vote unless the category is
        "auto". ``garment="auto"`` searches the garment the finder picks, blended
        with the whole photo; a kind (``"shoes"``) searches that garment alone.
        ImageError names the photo if it is unreadable.
        """
        weight = colour.check_weight(colour_weight)
        chosen, garments, photos = None, [], [photo]
        if garment:
            chosen, garments = self.find_garment(photo, garment, category, name)
            # auto: the crop in its photo's context (garments.WHOLE_WEIGHT); a kind asked
            # for by name: that garment alone
            photos = [crop_box(photo, chosen.box, name, MARGIN)] + (
                [photo] if garment.strip().lower() == AUTO_GARMENT else [])
        try:
            found = self.client.features(photos)
        except EmbeddingError as err:
            raise ImageError(f"{name}: {err.reason}") from err
        live = self.live_collection()
        embedding = (with_whole(found.embeddings[0], found.embeddings[1]) if len(photos) > 1
                     else found.embeddings[0])
        shade = found.colours[0] if found.colours is not None else None
        auto = bool(category) and category.strip().lower() == AUTO
        # the vote is a second search: paid only when its answer is used
        ranked = (self.guess_category(embedding, found.probabilities)
                  if suggestions > 0 or auto else [])
        if auto:
            if not ranked:
                raise CatalogNotIndexed("the catalogue is empty, so no category can be guessed; "
                                        "index it with `fashion-search index`")
            category = ranked[0][0]
        hits = self.store.search(embedding, k=k, category=category or None, where=where,
                                 colour=shade, colour_weight=weight)
        applied = effective_weight(shade, weight, live.colour_dim)
        hits = read_matches(hits, self.client.info().same_item, applied)
        return Results(hits, ranked[:suggestions], category or None, applied, chosen, garments)

    def find_garment(self, photo: bytes, want: str, category: str | None = None,
                     name: str = "photo") -> tuple[Garment, list[Garment]]:
        """(the garment to search, all found): ``want`` is "auto" or a kind (garments.py)."""
        if self.finder is None:
            raise ConfigError("searching one garment needs the garment finder's client")
        found = self.finder.find(photo, name)
        return choose_garment(found, want, category), found

    def live_collection(self) -> CollectionInfo:
        """The collection searched; refused when another model embedded it.

        Vectors of two models (float32 and int8 included) do not compare, so a
        catalogue indexed with one is never searched with the other.
        """
        live = self.store.info(self.store.current_collection())
        served = self.client.info().version
        if live.model_version != served:
            raise CollectionMismatch(
                f"the catalogue was indexed with model {live.model_version}, but the server "
                f"serves {served}; index it again with `fashion-search index`, or serve "
                f"{live.model_version}")
        return live

    def guess_category(self, embedding: np.ndarray, probabilities: np.ndarray | None
                       ) -> list[tuple[str, float]]:
        """The catalogue's categories ranked by a vote of the nearest items (see category_vote)."""
        neighbours = self.store.search(embedding, k=NEIGHBOURS)
        prior = {}
        if probabilities is not None:
            prior = dict(zip(self.client.info().labels, map(float, probabilities[0])))
        return vote([h.category for h in neighbours], [h.score for h in neighbours], prior,
                    self.categories())

    def search(self, photo: bytes, k: int = 10, category: str | None = None,
               name: str = "photo", where: Mapping[str, Sequence[str]] | None = None,
               colour_weight: float = colour.DEFAULT_WEIGHT) -> list[Hit]:
        """Top ``k`` look-alikes of ``photo``, without category suggestions."""
        return self.find(photo, k, category, name, suggestions=0, where=where,
                         colour_weight=colour_weight).hits
