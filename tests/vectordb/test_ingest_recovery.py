"""A re-index that dies half-way leaves searches on the previous collection.

The embedder is replaced by a stand-in here (this tests ingestion and the
alias, not the model); Milvus Lite is real.
"""

from pathlib import Path

import numpy as np
import pytest

from fashion_search.catalog import CatalogItem
from fashion_search.client import ModelInfo
from fashion_search.errors import TritonUnavailable
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.vectordb.ingest import ingest
from fashion_search.vectordb.store import CatalogStore, collection_name

pytestmark = pytest.mark.integration


class StandInEmbedder:
    def __init__(self, version: str, fail_after: int | None = None):
        self.version = version
        self.fail_after = fail_after
        self.calls = 0

    def info(self) -> ModelInfo:
        return ModelInfo(self.version, 8, "COSINE", PreprocessConfig(), 64)

    def embed(self, images):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise TritonUnavailable("server went away")
        rng = np.random.default_rng(len(images))
        vectors = rng.standard_normal((len(images), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def items(tmp_path):
    paths = []
    for i in range(40):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(b"bytes the stand-in does not decode")
        paths.append(path)
    return [CatalogItem(str(i), Path(p), f"c{i % 4}") for i, p in enumerate(paths)]


def test_failed_reindex_keeps_the_old_collection_and_a_rerun_completes(items, tmp_path):
    store = CatalogStore(str(tmp_path / "c.db"))
    ingest(items, StandInEmbedder("v1"), store, batch_size=8, in_flight=1, progress=False)
    assert store.current_collection() == collection_name("v1")

    with pytest.raises(TritonUnavailable):
        ingest(items, StandInEmbedder("v2", fail_after=2), store, batch_size=8, in_flight=1,
               progress=False)
    reader = CatalogStore(str(tmp_path / "c.db"))  # what a search process sees
    assert reader.current_collection() == collection_name("v1")
    assert reader.count() == 40

    report = ingest(items, StandInEmbedder("v2"), store, batch_size=8, in_flight=1,
                    progress=False)
    assert store.current_collection() == collection_name("v2") == report.collection
    assert store.count() == 40 and store.count(collection_name("v1")) == 40
    store.close()
