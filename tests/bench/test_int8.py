"""The int8 bench's paired interval says how sure a recall change is, and its recipe
figures never look at the unseen pairs."""

import numpy as np
import pytest

from fashion_search.bench.int8 import TRAINED_QUERIES, paired_interval, trained_pairs
from fashion_search.evaluation.evaluate import street_to_shop_set
from fashion_search.training.data import pair_items
from fashion_search.training.pairs import read_pairs
from tests.conftest import STREET2SHOP, require


@pytest.mark.unit
def test_the_same_hits_change_nothing_with_certainty():
    hits = np.array([1, 0, 1, 1, 0] * 20)
    assert paired_interval(hits, hits) == (0.0, 0.0, 0.0)


@pytest.mark.unit
def test_a_change_on_few_queries_has_an_interval_that_spans_it():
    first = np.zeros(500)
    second = first.copy()
    second[:10] = 1  # 10 of 500 queries gained: +2 points
    mean, low, high = paired_interval(first, second)
    assert mean == pytest.approx(0.02)
    assert 0.0 <= low < 0.02 < high < 0.04


@pytest.mark.unit
def test_a_loss_reads_negative():
    first = np.ones(200)
    second = first.copy()
    second[::4] = 0
    mean, low, high = paired_interval(first, second)
    assert mean == pytest.approx(-0.25) and low < mean < high < 0


@pytest.mark.integration
def test_the_recipe_is_chosen_on_trained_pairs_never_on_unseen_ones():
    source = require(STREET2SHOP)
    unseen = street_to_shop_set(source, 500, 0, None)
    trained = trained_pairs(source, {"unseen_pairs": 500, "seed": 0}, unseen)
    assert len(trained.queries) == TRAINED_QUERIES
    assert not {i.path for i in trained.queries} & {i.path for i in unseen.queries}
    assert trained.gallery is unseen.gallery
    shop_of = {q.path: unseen.gallery[m].path for q, m in zip(trained.queries, trained.matches)}
    pairs = {pair_items(p, source.name)[0].path: pair_items(p, source.name)[1].path
             for p in read_pairs(source)}
    assert all(pairs[street] == shop for street, shop in shop_of.items())


@pytest.mark.integration
def test_a_gallery_out_of_the_pairs_order_is_refused():
    source = require(STREET2SHOP)
    other = street_to_shop_set(source, 500, 0, None)
    other.gallery = other.gallery[::-1]
    with pytest.raises(ValueError, match="gallery"):
        trained_pairs(source, {"unseen_pairs": 500, "seed": 0}, other)
