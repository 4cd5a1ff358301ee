"""The index on Ray Data (local mode, 2 workers) gives the rows the single process gives;
a local Ray that misses its start-up window is started once more, and only once."""

import os
import sys
import types

import numpy as np
import pytest

from fashion_search.vectordb.distributed import rebuild_distributed, start_ray
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore

TIMED_OUT = ("The current node timed out during startup. This could happen because some of "
             "the raylet failed to startup or the GCS has become overloaded.")


class FakeRay(types.ModuleType):
    """Ray's init and shutdown, failing the first ``failures`` starts with ``error``."""

    def __init__(self, failures: int, error: str = TIMED_OUT):
        super().__init__("ray")
        self.failures, self.error = failures, error
        self.inits, self.shutdowns = [], 0

    def init(self, **kwargs):
        self.inits.append(kwargs)
        if len(self.inits) <= self.failures:
            raise Exception(self.error)

    def shutdown(self):
        self.shutdowns += 1


@pytest.fixture
def fake_ray(monkeypatch):
    def install(failures: int, error: str = TIMED_OUT) -> FakeRay:
        fake = FakeRay(failures, error)
        monkeypatch.setitem(sys.modules, "ray", fake)
        monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "180")  # restored afterwards
        return fake
    return install


@pytest.mark.unit
def test_a_local_ray_that_timed_out_starting_is_started_once_more(fake_ray):
    ray = fake_ray(failures=1)
    start_ray(None, workers=2)
    assert len(ray.inits) == 2 and ray.shutdowns == 1
    assert ray.inits[1]["num_cpus"] == 2


@pytest.mark.unit
def test_a_local_ray_that_times_out_twice_fails_with_rays_reason(fake_ray):
    ray = fake_ray(failures=2)
    with pytest.raises(Exception, match="timed out during startup"):
        start_ray(None, workers=2)
    assert len(ray.inits) == 2


@pytest.mark.unit
def test_other_start_errors_and_a_cluster_address_are_not_retried(fake_ray):
    ray = fake_ray(failures=1, error="address already in use")
    with pytest.raises(Exception, match="address already in use"):
        start_ray(None, workers=2)
    assert len(ray.inits) == 1 and ray.shutdowns == 0
    ray = fake_ray(failures=1)
    with pytest.raises(Exception, match="timed out"):
        start_ray("ray://head:10001", workers=2)
    assert ray.inits == [{"address": "ray://head:10001", "include_dashboard": False,
                          "log_to_driver": False}]


def rows(store: CatalogStore) -> dict[str, tuple[str, np.ndarray]]:
    name = store.current_collection()
    found = store.client.query(name, filter='id != ""', limit=1000, consistency_level="Strong",
                               output_fields=["category", "content_hash", "embedding"])
    return {r["id"]: (r["category"] + r["content_hash"], np.asarray(r["embedding"]))
            for r in found}


@pytest.mark.integration
def test_two_ray_workers_index_the_same_rows_as_one_process(client, milvus_server,
                                                            catalog_items):
    import ray

    items = catalog_items[:60]
    run = os.urandom(4).hex()  # aliases of their own on the shared server, rerun or not
    single = CatalogStore(milvus_server, alias=f"single_{run}")
    many = CatalogStore(milvus_server, alias=f"ray_{run}")
    try:
        rebuild(items, client, single, progress=False)
        report = rebuild_distributed(items, [client.url], milvus_server, alias=f"ray_{run}",
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


@pytest.mark.integration
def test_a_lite_file_is_refused_with_what_to_use_instead(client, catalog_items, tmp_path):
    from fashion_search.errors import CatalogBusy

    with pytest.raises(CatalogBusy, match="give a Milvus server URI"):
        rebuild_distributed(catalog_items[:2], [client.url], str(tmp_path / "c.db"))
