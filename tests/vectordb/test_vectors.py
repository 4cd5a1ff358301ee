"""One vector field, two features: the query-time weight ranks by the weighted sum."""

import numpy as np
import pytest

from fashion_search import colour
from fashion_search.errors import InvalidRequest
from fashion_search.vectordb.vectors import (
    COLOUR_SCALE,
    blended_score,
    collection_metric,
    query_vector,
    stored_vector,
)

pytestmark = pytest.mark.unit


def unit(rng, n):
    v = rng.standard_normal(n).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("scale", [1.0, COLOUR_SCALE])
@pytest.mark.parametrize("weight", [0.0, 0.1, 0.3, 1.0])
def test_the_cosine_milvus_computes_maps_back_to_the_weighted_mean(weight, scale):
    rng = np.random.default_rng(0)
    e_q, c_q, e_x, c_x = unit(rng, 16), unit(rng, 6), unit(rng, 16), unit(rng, 6)
    query = query_vector(e_q, c_q, weight, 6, scale)
    stored = stored_vector(e_x, c_x, 6, scale)
    cosine = float(query @ stored / (np.linalg.norm(query) * np.linalg.norm(stored)))
    expected = (e_q @ e_x + weight * (c_q @ c_x)) / (1 + weight)
    assert blended_score(cosine, weight, 6, "COSINE", scale) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("weight", [0.0, 0.1, 1.0])
def test_the_inner_product_gives_the_same_score_and_ranking_as_the_cosine(weight):
    rng = np.random.default_rng(1)
    e_q, c_q = unit(rng, 16) * 3.0, unit(rng, 6)  # not unit length: normalised on the way
    query = query_vector(e_q, c_q, weight, 6, COLOUR_SCALE)
    rows = [stored_vector(unit(rng, 16) * 0.5, unit(rng, 6), 6, COLOUR_SCALE) for _ in range(20)]
    inner = [float(query @ r) for r in rows]
    cosine = [float(query @ r / (np.linalg.norm(query) * np.linalg.norm(r))) for r in rows]
    by_inner = [blended_score(d, weight, 6, "IP", COLOUR_SCALE) for d in inner]
    by_cosine = [blended_score(d, weight, 6, "COSINE", COLOUR_SCALE) for d in cosine]
    assert by_inner == pytest.approx(by_cosine, abs=1e-5)
    assert list(np.argsort(inner)) == list(np.argsort(cosine))


def test_new_collections_of_a_cosine_model_search_by_inner_product():
    assert collection_metric("COSINE") == "IP"
    assert collection_metric("cosine") == "IP"
    assert collection_metric("L2") == "L2"


def test_at_the_default_weight_the_index_geometry_is_the_query_geometry():
    rng = np.random.default_rng(2)
    e_q, c_q, e_x, c_x = unit(rng, 16), unit(rng, 6), unit(rng, 16), unit(rng, 6)
    query = query_vector(e_q, c_q, colour.DEFAULT_WEIGHT, 6, COLOUR_SCALE)
    as_stored = stored_vector(e_q, c_q, 6, COLOUR_SCALE)
    assert np.allclose(query, as_stored)
    stored = stored_vector(e_x, c_x, 6, COLOUR_SCALE)
    assert float(as_stored @ stored) == pytest.approx(
        e_q @ e_x + colour.DEFAULT_WEIGHT * (c_q @ c_x), abs=1e-6)


def test_without_a_query_colour_the_search_is_by_embedding_alone():
    rng = np.random.default_rng(1)
    query = query_vector(unit(rng, 8), None, 0.5, 4)
    assert query.shape == (12,) and not query[8:].any()


def test_a_row_without_the_colour_its_collection_stores_is_refused():
    with pytest.raises(InvalidRequest, match="colour descriptor"):
        stored_vector(np.ones(8), None, 4)
