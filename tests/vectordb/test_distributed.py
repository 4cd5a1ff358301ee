"""The index on Ray Data (local mode, 2 workers) gives the rows the single process gives."""

import numpy as np
import pytest

from fashion_search.vectordb.distributed import rebuild_distributed
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore

pytestmark = pytest.mark.integration


def rows(store: CatalogStore) -> dict[str, tuple[str, np.ndarray]]:
    name = store.current_collection()
    found = store.client.query(name, filter='id != ""', limit=1000, consistency_level="Strong",
                               output_fields=["category", "content_hash", "embedding"])
    return {r["id"]: (r["category"] + r["content_hash"], np.asarray(r["embedding"]))
            for r in found}


def test_two_ray_workers_index_the_same_rows_as_one_process(client, milvus_server,
                                                            catalog_items):
    import ray

    items = catalog_items[:60]
    single = CatalogStore(milvus_server, alias="single_process")
    many = CatalogStore(milvus_server, alias="ray_workers")
    try:
        rebuild(items, client, single, progress=False)
        report = rebuild_distributed(items, [client.url], milvus_server, alias="ray_workers",
                                     workers=2, batch_size=8)
        assert report.indexed == 60 and not report.skipped
        expected, got = rows(single), rows(many)
        assert set(got) == set(expected) == {i.id for i in items}
        for item_id, (facts, vector) in expected.items():
            assert got[item_id][0] == facts
            assert float(vector @ got[item_id][1]) > 0.9999
    finally:
        single.close()
        many.close()
        ray.shutdown()


def test_a_lite_file_is_refused_with_what_to_use_instead(client, catalog_items, tmp_path):
    from fashion_search.errors import CatalogBusy

    with pytest.raises(CatalogBusy, match="give a Milvus server URI"):
        rebuild_distributed(catalog_items[:2], [client.url], str(tmp_path / "c.db"))
