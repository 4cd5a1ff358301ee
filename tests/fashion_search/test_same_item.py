"""A street photo's match scale: fitted on held-out pairs, never decreasing, carried as text."""

import numpy as np
import pytest

from fashion_search.same_item import SameItemScale, fit_same_item, monotone_fit

pytestmark = pytest.mark.unit


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def street_and_shop(count: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Products and street photos of them: the product's vector plus noise."""
    rng = np.random.default_rng(seed)
    products = unit(rng.normal(size=(count, 32)))
    return unit(products + noise * rng.normal(size=products.shape)), products


def test_the_fitted_chance_never_falls_as_the_score_rises():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 2000)
    right = rng.uniform(0, 1, 2000) < scores ** 3  # noisy: shares by bin go up and down
    knots, chances = monotone_fit(scores, right)
    assert np.all(np.diff(chances) >= 0) and np.all(np.diff(knots) >= 0)
    assert chances[0] < 0.05 and chances[-1] > 0.8
    assert np.all((chances >= 0) & (chances <= 1))


def test_a_right_pair_reads_higher_than_a_wrong_one_on_pairs_it_never_saw():
    queries, gallery = street_and_shop(400, noise=0.12, seed=1)
    scale = fit_same_item(queries, gallery, np.arange(400))
    street, shop = street_and_shop(50, noise=0.12, seed=2)
    scores = street @ shop.T
    right = [scale(scores[i, i]) for i in range(50)]
    wrong = [scale(scores[i, (i + 1) % 50]) for i in range(50)]
    assert np.mean(right) > 0.5 > 0.1 > np.mean(wrong)
    assert sum(r > w for r, w in zip(right, wrong)) >= 48


def test_the_chance_of_the_first_result_is_about_how_often_it_is_right():
    queries, gallery = street_and_shop(600, noise=0.35, seed=3)
    scale = fit_same_item(queries[:300], gallery, np.arange(300))
    scores = queries[300:] @ gallery.T
    first = scores.argmax(axis=1)
    said = np.mean([scale(scores[i, j]) for i, j in enumerate(first)])
    right = np.mean(first == np.arange(300, 600))
    assert 0.05 < right < 0.95
    assert said == pytest.approx(right, abs=0.06)


def test_each_colour_weight_reads_its_own_fit():
    queries, gallery = street_and_shop(300, noise=0.5, seed=4)
    colours_q, colours_g = street_and_shop(300, noise=0.1, seed=5)
    scale = fit_same_item(queries, gallery, np.arange(300), colours_q, colours_g)
    assert scale.weights[0] == 0.0 and len(scale.weights) > 3
    # colour agrees more than shape does here, so a heavier colour weight is surer
    score_at = {w: (queries[0] @ gallery[0] + w * colours_q[0] @ colours_g[0]) / (1 + w)
                for w in (0.0, 1.0)}
    assert scale(score_at[1.0], 1.0) >= scale(score_at[0.0], 0.0)
    assert scale(0.5, 0.04) == scale(0.5, 0.05)  # the nearest fitted weight


def test_the_scale_survives_its_text_and_bad_text_reads_as_none():
    queries, gallery = street_and_shop(100, noise=0.3, seed=6)
    scale = fit_same_item(queries, gallery, np.arange(100))
    again = SameItemScale.from_json(scale.to_json())
    assert again == scale and again.gallery == 100
    assert SameItemScale.from_json("") is None
    assert SameItemScale.from_json("{not json") is None
    assert SameItemScale.from_json('{"weights": [0]}') is None


def test_read_down_a_result_list_the_chance_never_rises():
    queries, gallery = street_and_shop(300, noise=0.35, seed=7)
    scale = fit_same_item(queries, gallery, np.arange(300))
    assert scale.ranks == (1, 2, 4, 11)
    for row in (queries[:20] @ gallery.T):
        scores = sorted(row, reverse=True)[:30]
        chances = scale.read(scores)
        assert all(a >= b for a, b in zip(chances, chances[1:]))
        # at one score a first result is surer than a fifth, which has four above it
        assert scale(scores[0], rank=1) >= scale(scores[0], rank=5)


def test_a_clear_first_result_reads_surer_than_one_in_a_crowd():
    queries, gallery = street_and_shop(400, noise=0.35, seed=8)
    scale = fit_same_item(queries, gallery, np.arange(400))
    assert len(scale.lead) == len(scale.weights)
    scores = np.sort(queries[0] @ gallery.T)[::-1]
    top = float(scores[0])
    clear, crowded = scale.read([top, top - 0.3]), scale.read([top, top - 0.001])
    assert clear[0] > crowded[0] + 0.3
    assert scale.read([top]) == [scale(top)]  # alone, the first result reads by its score
