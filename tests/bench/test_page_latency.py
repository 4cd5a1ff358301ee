"""The page bench's catalogue copy: the live items, then grown ones that look like them."""

import numpy as np
import pytest

from fashion_search import colour
from fashion_search.bench.page_latency import PageTiming, padded_copy
from fashion_search.client import ModelInfo
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.vectordb.filters import catalogue_columns
from fashion_search.vectordb.schema import CollectionInfo, Row, collection_name
from fashion_search.vectordb.store import CatalogStore

pytestmark = pytest.mark.integration


@pytest.fixture
def live(tmp_path):
    rng = np.random.default_rng(0)
    model = ModelInfo("m1", 8, "COSINE", PreprocessConfig(), 32, colour="hsv")
    labels = [{"gender": "Women" if n % 2 else "Men"} for n in range(20)]
    store = CatalogStore(str(tmp_path / "live.db"))
    name = collection_name(model.version, "r1")
    store.create_collection(CollectionInfo.for_model(name, model, columns=catalogue_columns(labels)))
    rows = []
    for n in range(20):
        embedding = rng.standard_normal(8).astype(np.float32)
        shade = np.abs(rng.standard_normal(colour.DIM)).astype(np.float32)
        rows.append(Row(f"item{n}", embedding / np.linalg.norm(embedding), f"c{n % 3}",
                        f"/photos/{n}.jpg", "m1", labels=labels[n],
                        colour=shade / np.linalg.norm(shade)))
    store.insert(name, rows)
    store.point_alias(name)
    yield store
    store.close()


def test_the_copy_holds_the_live_items_then_grown_ones_with_their_photos(live, tmp_path):
    copy = CatalogStore(str(tmp_path / "copy.db"))
    try:
        padded_copy(live, copy, 100)
        assert copy.count() == 100
        rows = {r["id"]: r for r in copy.scan(copy.current_collection(),
                                              ["category", "image_path", "labels"])}
        assert {f"item{n}" for n in range(20)} <= set(rows)
        grown = [i for i in rows if "~" in i]
        assert len(grown) == 80
        for item_id in grown:
            base = rows[item_id.split("~")[0]]
            assert (rows[item_id]["category"], rows[item_id]["image_path"],
                    rows[item_id]["labels"]) == (base["category"], base["image_path"],
                                                 base["labels"])
        assert copy.labels() == {"gender": ["Men", "Women"]}
    finally:
        copy.close()


def test_the_table_reports_percentiles_against_the_target():
    table = PageTiming(10_000, [100.0] * 9 + [900.0]).table()
    assert "10,000" in table and "meets it" in table
    assert "misses it" in PageTiming(10, [400.0, 500.0]).table()
