"""The scale benchmark's rows: real photos first, then distinct look-alikes shaped like stored rows."""

import numpy as np
import pytest

from fashion_search.bench.catalog_scale import exact_top_k, grow, nearest_real

pytestmark = pytest.mark.unit

DIM, COLOUR, SCALE = 12, 4, 0.2


def stored_rows(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    embedding = rng.standard_normal((count, DIM)).astype(np.float32)
    colour = rng.random((count, COLOUR)).astype(np.float32)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    colour *= SCALE / np.linalg.norm(colour, axis=1, keepdims=True)
    return np.concatenate([embedding, colour], axis=1)


def test_grown_rows_keep_the_real_ones_first_and_the_stored_shape():
    base = stored_rows(40)
    categories = [f"c{i % 3}" for i in range(40)]
    vectors, grown_categories = grow(base, categories, 500, DIM, colour_norm=SCALE)
    assert vectors.shape == (500, DIM + COLOUR) and len(grown_categories) == 500
    assert np.array_equal(vectors[:40], base) and grown_categories[:40] == categories
    assert np.allclose(np.linalg.norm(vectors[:, :DIM], axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(vectors[:, DIM:], axis=1), SCALE, atol=1e-5)


def test_grown_rows_are_distinct_but_near_the_real_photo_they_come_from():
    base = stored_rows(40)
    vectors, _ = grow(base, ["c"] * 40, 400, DIM, colour_norm=SCALE)
    extra = vectors[40:]
    nearest_base = (extra[:, :DIM] @ base[:, :DIM].T).max(axis=1)
    assert nearest_base.min() > 0.5  # look-alikes of real photos, not random points
    gram = extra @ extra.T
    np.fill_diagonal(gram, -np.inf)
    norm = 1 + SCALE ** 2
    assert gram.max() < 0.9999 * norm  # no two synthetic rows are the same


def test_nearest_real_leaves_out_the_row_itself():
    base = stored_rows(30)
    found = nearest_real(base, count=3)
    assert found.shape == (30, 3)
    assert not (found == np.arange(30)[:, None]).any()
    scores = base @ base.T
    np.fill_diagonal(scores, -np.inf)
    assert (found == scores.argmax(axis=1)[:, None]).any(axis=1).all()


def test_exact_top_k_respects_the_category_mask():
    vectors = stored_rows(60)
    queries = vectors[:4]
    mask = np.zeros((4, 60), bool)
    mask[:, 30:] = True
    found = exact_top_k(vectors, queries, mask)
    assert (found >= 30).all()
    unmasked = exact_top_k(vectors, queries)
    assert (unmasked[:, 0] == np.arange(4)).all()
