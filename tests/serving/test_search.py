"""Which scale a query's matches read on: the catalogue's, or the street pairs'."""

import numpy as np
import pytest

from fashion_search.same_item import fit_same_item
from fashion_search.serving.search import read_matches
from fashion_search.vectordb.schema import LOOK_ALIKE, SAME_ITEM, Hit
from tests.fashion_search.test_same_item import street_and_shop

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def scale():
    queries, gallery = street_and_shop(300, noise=0.35, seed=11)
    return fit_same_item(queries, gallery, np.arange(300))


def hits_for(scores, looks):
    return [Hit(f"item-{n}", s, "Tops", f"/c/{n}.jpg", {}, m, LOOK_ALIKE)
            for n, (s, m) in enumerate(zip(scores, looks))]


def test_a_street_photo_reads_as_the_chance_of_its_product_in_the_same_order(scale):
    street, shop = street_and_shop(1, noise=0.35, seed=12)
    others = street_and_shop(40, noise=0.35, seed=13)[1]
    scores = sorted([float(street[0] @ shop[0])] + list(others @ street[0]), reverse=True)
    hits = hits_for(scores, [0.04] + [0.02] * 40)  # below the catalogue's own neighbours
    read = read_matches(hits, scale, 0.0)
    assert [h.id for h in read] == [h.id for h in hits]
    assert {h.reading for h in read} == {SAME_ITEM}
    matches = [h.match for h in read]
    assert all(a >= b for a, b in zip(matches, matches[1:]))
    assert matches[0] > 0.3 > 0.05 > matches[-1]


def test_a_photo_like_the_catalogue_keeps_the_catalogue_scale(scale):
    hits = hits_for([0.97, 0.95, 0.9], [0.93, 0.8, 0.6])
    assert read_matches(hits, scale, 0.02) == hits


def test_a_model_without_a_street_scale_keeps_the_catalogue_scale():
    hits = hits_for([0.4, 0.3], [0.02, 0.01])
    assert read_matches(hits, None, 0.0) == hits
    assert read_matches([], None, 0.0) == []
