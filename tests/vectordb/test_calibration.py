"""Calibrated scores spread what raw cosines crowd near 1, without changing any ranking."""

import numpy as np
import pytest

from fashion_search.vectordb.calibration import ScoreScale, spread_sample

pytestmark = pytest.mark.unit


def test_the_scale_spreads_crowded_scores_over_zero_to_one():
    neighbours = np.random.default_rng(0).uniform(0.97, 0.995, 5000)
    scale = ScoreScale.fit(neighbours)
    assert scale(0.96) == 0.0 and scale(0.999) == 1.0
    assert 0.4 < scale(0.9825) < 0.6


def test_the_scale_keeps_every_ranking():
    scale = ScoreScale.fit(np.random.default_rng(1).normal(0.8, 0.05, 2000))
    raw = np.sort(np.random.default_rng(2).uniform(0.5, 1.0, 200))
    mapped = [scale(s) for s in raw]
    assert all(a <= b for a, b in zip(mapped, mapped[1:]))


def test_too_few_scores_give_no_scale():
    assert ScoreScale.fit(np.array([0.5])) is None


def test_the_sample_spreads_over_a_sorted_catalogue():
    ids = [f"{c}/{i}" for c in "abcd" for i in range(100)]
    sample = spread_sample(ids, 8)
    assert len(sample) == 8 and {s[0] for s in sample} == set("abcd")
