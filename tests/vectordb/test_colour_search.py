"""The colour weight and calibrated scores, on Milvus Lite and on the real server."""

import numpy as np
import pytest

from fashion_search import colour
from fashion_search.client import ModelInfo
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.vectordb.schema import CollectionInfo, Row, collection_name

pytestmark = pytest.mark.integration
DIM = 16


def unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def shade(bin_):
    v = np.zeros(colour.DIM, np.float32)
    v[bin_] = 1.0
    return v


@pytest.fixture
def catalogue(open_store):
    """Two near-identical shapes in different colours, plus distant fillers."""
    store = open_store()
    model = ModelInfo("v-colour", DIM, "COSINE", PreprocessConfig(), 64, colour=colour.NAME)
    name = collection_name(model.version, "r1")
    store.create_collection(CollectionInfo.for_model(name, model, store.alias))
    rng = np.random.default_rng(0)
    shape = unit(rng.standard_normal(DIM))
    rows = [Row("blue-top", unit(shape + 0.02 * rng.standard_normal(DIM)), "Tops", "b.jpg",
                model.version, colour=shade(3)),
            Row("red-top", unit(shape + 0.05 * rng.standard_normal(DIM)), "Tops", "r.jpg",
                model.version, colour=shade(10))]
    rows += [Row(f"filler-{i}", unit(rng.standard_normal(DIM)), "Other", f"f{i}.jpg",
                 model.version, colour=shade(i % colour.DIM)) for i in range(40)]
    store.insert(name, rows)
    store.point_alias(name)
    store.refresh()
    return store, shape


def test_the_colour_weight_brings_the_matching_colour_first(catalogue):
    store, shape = catalogue
    red = shade(10)
    plain = store.search(shape, k=2, colour=red, colour_weight=0.0)
    coloured = store.search(shape, k=2, colour=red, colour_weight=0.3)
    assert [h.id for h in plain] == ["blue-top", "red-top"]
    assert [h.id for h in coloured] == ["red-top", "blue-top"]
    # the reported score is the weighted mean of the two similarities
    assert coloured[0].score == pytest.approx((plain[1].score + 0.3 * 1.0) / 1.3, abs=1e-3)


def test_calibrated_matches_fall_with_rank_and_stay_in_zero_to_one(catalogue):
    store, shape = catalogue
    hits = store.search(shape, k=10)
    matches = [h.match for h in hits]
    assert all(m is not None and 0.0 <= m <= 1.0 for m in matches)
    assert matches == sorted(matches, reverse=True)
    assert min(matches[:2]) > 0.99 and matches[-1] < 0.9  # the two look-alikes stand out
