"""The catalogue figures: scores as Milvus ranks them, agreement and vote accuracy."""

import numpy as np
import pytest

from fashion_search.evaluation.catalogue import (
    blended,
    label_agreement,
    reranked,
    top_k,
    vote_accuracy,
)
from fashion_search.features import Features

pytestmark = pytest.mark.unit


def features(rng, n, dim=8, colours=4):
    e = rng.standard_normal((n, dim)).astype(np.float32)
    c = np.abs(rng.standard_normal((n, colours))).astype(np.float32)
    return Features(e / np.linalg.norm(e, axis=1, keepdims=True),
                    c / np.linalg.norm(c, axis=1, keepdims=True))


def test_a_deep_enough_rerank_ranks_like_the_weighted_search():
    rng = np.random.default_rng(0)
    queries, index = features(rng, 5), features(rng, 40)
    full = top_k(blended(queries, index, 0.3), 10)
    assert (top_k(reranked(queries, index, 0.3, depth=40), 10) == full).all()
    shallow = reranked(queries, index, 0.3, depth=3)
    assert np.isfinite(shallow).sum(axis=1).tolist() == [3] * 5


def test_label_agreement_counts_the_share_of_the_top_k_with_the_querys_label():
    scores = np.array([[0.9, 0.8, 0.1, 0.0], [0.0, 0.1, 0.8, 0.9]])
    assert label_agreement(scores, ["red", "blue"], ["red", "blue", "blue", "blue"], k=2) == 0.75


def test_the_vote_finds_the_category_of_a_querys_nearest_items():
    rng = np.random.default_rng(1)
    index = features(rng, 30)
    categories = ["a"] * 15 + ["b"] * 15
    queries = Features(index.embeddings[[0, 20]], index.colours[[0, 20]])
    assert vote_accuracy(queries, index, categories, ["a", "b"], labels=[], neighbours=1) == 1.0
