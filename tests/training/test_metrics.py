"""Metrics on hand-made rankings whose answers are known."""

import numpy as np
import pytest

from fashion_search.training.metrics import (
    mean_average_precision,
    precision_at_k,
    recall_at_k,
    retrieval_report,
    sorted_relevance,
    top_k_accuracy,
)

pytestmark = pytest.mark.unit


def one_match(scores, matches):
    scores = np.asarray(scores, dtype=float)
    relevant = np.zeros_like(scores, dtype=bool)
    relevant[np.arange(len(matches)), matches] = True
    return sorted_relevance(scores, relevant)


def test_a_perfect_ranking_scores_one_everywhere():
    ranked = one_match(np.eye(4), [0, 1, 2, 3])
    assert recall_at_k(ranked, 1) == 1.0
    assert mean_average_precision(ranked) == 1.0


def test_a_reversed_ranking_puts_the_match_last():
    # The match has the lowest score of 5 items: rank 5 for every query.
    scores = np.tile(np.arange(5, 0, -1), (3, 1))
    ranked = one_match(scores, [4, 4, 4])
    assert recall_at_k(ranked, 4) == 0.0
    assert recall_at_k(ranked, 5) == 1.0
    assert mean_average_precision(ranked) == pytest.approx(1 / 5)


def test_ties_count_against_the_model():
    # All scores equal: the match ranks behind every tied wrong item.
    ranked = one_match(np.ones((2, 4)), [0, 3])
    assert recall_at_k(ranked, 3) == 0.0
    assert mean_average_precision(ranked) == pytest.approx(1 / 4)
    # A tie with one wrong item above a lower third: rank 2.
    ranked = one_match([[0.9, 0.9, 0.1]], [1])
    assert recall_at_k(ranked, 1) == 0.0 and recall_at_k(ranked, 2) == 1.0


def test_mixed_ranks_average_per_query():
    # Query 0 finds its match first, query 1 third.
    ranked = one_match([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]], [0, 2])
    report = retrieval_report(ranked, (1, 2, 3))
    assert report == {"recall@1": 0.5, "recall@2": 0.5, "recall@3": 1.0,
                      "mAP": pytest.approx((1 + 1 / 3) / 2)}


def test_precision_and_average_precision_with_several_relevant_items():
    scores = np.array([[0.9, 0.8, 0.7, 0.6]])
    relevant = np.array([[True, False, True, False]])
    ranked = sorted_relevance(scores, relevant)
    assert precision_at_k(ranked, 1) == 1.0
    assert precision_at_k(ranked, 2) == 0.5
    assert precision_at_k(ranked, 4) == 0.5
    assert mean_average_precision(ranked) == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_a_query_without_any_relevant_item_is_refused():
    with pytest.raises(ValueError, match="at least one relevant"):
        sorted_relevance(np.ones((1, 3)), np.zeros((1, 3), dtype=bool))


def test_top_k_accuracy_counts_ties_against():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.5, 0.0]])
    assert top_k_accuracy(probabilities, [0, 1, 1], 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(probabilities, [0, 1, 1], 2) == 1.0
