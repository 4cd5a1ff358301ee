"""The int8 bench's paired interval says how sure a recall change is."""

import numpy as np
import pytest

from fashion_search.bench.int8 import paired_interval

pytestmark = pytest.mark.unit


def test_the_same_hits_change_nothing_with_certainty():
    hits = np.array([1, 0, 1, 1, 0] * 20)
    assert paired_interval(hits, hits) == (0.0, 0.0, 0.0)


def test_a_change_on_few_queries_has_an_interval_that_spans_it():
    first = np.zeros(500)
    second = first.copy()
    second[:10] = 1  # 10 of 500 queries gained: +2 points
    mean, low, high = paired_interval(first, second)
    assert mean == pytest.approx(0.02)
    assert 0.0 <= low < 0.02 < high < 0.04


def test_a_loss_reads_negative():
    first = np.ones(200)
    second = first.copy()
    second[::4] = 0
    mean, low, high = paired_interval(first, second)
    assert mean == pytest.approx(-0.25) and low < mean < high < 0
