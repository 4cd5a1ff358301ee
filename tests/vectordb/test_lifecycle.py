"""The live collection always equals one whole catalogue, on Milvus Lite and a real server.

The embedder is a stand-in here (these test the catalogue's lifecycle, not the
model): each photo's bytes give it a fixed random unit vector. Milvus is real.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from fashion_search import colour
from fashion_search.catalog import CatalogItem
from fashion_search.client import Features, ModelInfo
from fashion_search.errors import CatalogBusy, CatalogCheckFailed, EmbeddingError, TritonUnavailable
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.vectordb.lifecycle import rebuild, update

pytestmark = pytest.mark.integration
DIM = 8


class StandInEmbedder:
    def __init__(self, version: str = "v1", fail_after: int | None = None, fail_on=None):
        self.version = version
        self.fail_after = fail_after
        self.fail_on = fail_on  # photos whose batch the server "drops"
        self.photos = 0
        self.calls = 0

    def info(self) -> ModelInfo:
        return ModelInfo(self.version, DIM, "COSINE", PreprocessConfig(), 64, colour=colour.NAME)

    def vector(self, data: bytes, dim: int = DIM) -> np.ndarray:
        if data.startswith(b"broken"):
            raise EmbeddingError(f"image 0: not a readable image ({len(data)} bytes)")
        seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little") + dim
        vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def embed(self, images):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise TritonUnavailable("server went away")
        if self.fail_on and any(self.fail_on(data) for data in images):
            raise TritonUnavailable("server went away")
        self.photos += len(images)
        return np.stack([self.vector(data) for data in images])

    def features(self, images):
        return Features(self.embed(images),
                        np.stack([self.vector(d, colour.DIM) for d in images]) if images else None)


def make_items(folder: Path, category: str, count: int, labels=None) -> list[CatalogItem]:
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(count):
        path = folder / f"{category}-{i}.jpg"
        path.write_bytes(f"{category} photo {i}".encode())
        items.append(CatalogItem(f"{category}/{i}", path, category, dict(labels or {})))
    return items


def ids_found(store, items) -> set[str]:
    store.refresh()
    found = set()
    for item in items:
        vector = StandInEmbedder().vector(item.path.read_bytes())
        found.update(hit.id for hit in store.search(vector, k=3))
    return found


def test_a_second_catalogue_replaces_the_first(open_store, tmp_path):
    shoes = make_items(tmp_path / "a", "shoes", 20)
    dresses = make_items(tmp_path / "b", "dresses", 10)
    store = open_store()
    first = rebuild(shoes, StandInEmbedder(), store, catalog="A", progress=False)
    second = rebuild(dresses, StandInEmbedder(), store, catalog="B", progress=False)
    assert first.collection != second.collection
    assert store.current_collection() == second.collection
    assert store.count() == 10 and store.categories() == ["dresses"]
    assert ids_found(store, shoes + dresses) <= {i.id for i in dresses}
    assert store.info(second.collection).catalog == "B"
    # The collection before stays (a reader may still point at it); older ones go.
    third = rebuild(dresses, StandInEmbedder(), store, catalog="B", keep=2, progress=False)
    assert third.dropped == [first.collection]
    assert [c.name for c in store.collections()] == [second.collection, third.collection]


def test_a_failed_index_leaves_the_live_catalogue_and_no_new_collection(open_store, tmp_path):
    items = make_items(tmp_path, "hats", 40)
    store = open_store()
    live = rebuild(items, StandInEmbedder("v1"), store, progress=False).collection
    with pytest.raises(TritonUnavailable):
        rebuild(items, StandInEmbedder("v2", fail_after=2), store, batch_size=8, progress=False)
    reader = open_store()  # what a search process sees
    assert reader.current_collection() == live and reader.count() == 40
    assert [c.name for c in store.collections()] == [live]


def test_a_catalogue_whose_every_photo_fails_never_goes_live(open_store, tmp_path):
    good = make_items(tmp_path / "good", "hats", 5)
    store = open_store()
    live = rebuild(good, StandInEmbedder(), store, progress=False).collection
    broken = make_items(tmp_path / "bad", "broken", 4)
    with pytest.raises(CatalogCheckFailed, match="no photo of the catalogue could be indexed"):
        rebuild(broken, StandInEmbedder(), store, progress=False)
    assert store.current_collection() == live and store.count() == 5


def test_an_update_embeds_only_what_changed_and_says_so(open_store, tmp_path):
    items = make_items(tmp_path, "shirts", 30, {"gender": "Men"})
    store = open_store()
    full = rebuild(items, StandInEmbedder(), store, progress=False)
    items[0].path.write_bytes(b"a new photo of shirt 0")
    added = make_items(tmp_path / "new", "shirts-new", 3, {"gender": "Men"})
    catalogue = items[:25] + added  # 5 removed, 1 changed, 3 new
    embedder = StandInEmbedder()
    report = update(catalogue, embedder, store, progress=False)
    assert (report.mode, report.collection) == ("incremental", full.collection)
    assert (report.added, report.changed, report.removed, report.unchanged) == (3, 1, 5, 24)
    assert embedder.photos == 4 and report.indexed == store.count() == 28
    assert set(report.timings) >= {"compare", "embed", "remove", "verify"}
    assert ids_found(store, catalogue) == {i.id for i in catalogue}
    again = StandInEmbedder()
    rerun = update(catalogue, again, store, progress=False)
    assert again.photos == 0 and rerun.unchanged == 28 and store.count() == 28


def test_an_update_after_a_crash_embeds_only_what_is_missing(open_store, tmp_path):
    items = make_items(tmp_path, "bags", 40)
    store = open_store()
    rebuild(items[:10], StandInEmbedder(), store, progress=False)
    late = {item.path.read_bytes() for item in items[20:]}
    with pytest.raises(TritonUnavailable):  # the first batch of the update lands, then a crash
        update(items, StandInEmbedder(fail_on=late.__contains__), store, batch_size=10,
               progress=False)
    embedder = StandInEmbedder()
    report = update(items, embedder, store, batch_size=10, progress=False)
    assert embedder.photos == report.added == 40 - 10 - 10
    assert store.count() == 40 and len(set(store.stored(store.current_collection()))) == 40


def test_an_update_with_another_model_is_a_full_index(open_store, tmp_path):
    items = make_items(tmp_path, "coats", 6)
    store = open_store()
    first = rebuild(items, StandInEmbedder("v1"), store, progress=False)
    report = update(items, StandInEmbedder("v2"), store, progress=False)
    assert report.mode == "full" and report.collection != first.collection
    assert store.info(store.current_collection()).model_version == "v2"


def test_a_second_writer_on_a_server_is_told_who_holds_the_catalogue(milvus_server, tmp_path):
    from fashion_search.vectordb.lock import ServerLease
    from fashion_search.vectordb.store import CatalogStore

    alias = f"t_{tmp_path.name[-20:]}".replace("-", "_")
    stores = [CatalogStore(milvus_server, alias=alias) for _ in range(2)]
    try:
        rebuild(make_items(tmp_path, "caps", 3), StandInEmbedder(), stores[0], progress=False)
        holder = ServerLease(stores[0], alias, settle_s=0)
        holder.acquire()
        with pytest.raises(CatalogBusy, match=r"is being indexed by process \d+ .*searches keep "):
            rebuild(make_items(tmp_path / "b", "caps", 3), StandInEmbedder(), stores[1],
                    progress=False)
        assert stores[1].count() == 3  # a reader is not blocked by the writer
        holder.release()
        rebuild(make_items(tmp_path / "c", "caps", 4), StandInEmbedder(), stores[1],
                progress=False)
        assert stores[0].count(stores[1].current_collection()) == 4
    finally:
        for store in stores:
            store.close()


def test_a_lite_file_open_in_another_process_names_that_process(tmp_path):
    import subprocess
    import sys

    from fashion_search.vectordb.store import CatalogStore

    db = tmp_path / "catalog.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from fashion_search.vectordb.store import CatalogStore\n"
         f"store = CatalogStore({str(db)!r}); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(CatalogBusy, match=rf"open in process {holder.pid} .*Milvus server"):
            CatalogStore(str(db))
    finally:
        holder.kill()
        holder.wait()
    CatalogStore(str(db)).close()  # free again once that process is gone


def test_a_collection_from_an_earlier_version_is_replaced_not_fatal(open_store, tmp_path):
    from pymilvus import DataType, MilvusClient

    from fashion_search.vectordb.lifecycle import live_collection

    store = open_store()
    schema = MilvusClient.create_schema(auto_id=False)  # the old layout: no description
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
    index = store.client.prepare_index_params()
    index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
    old = f"items_v0_{store.alias}"
    store.client.create_collection(old, schema=schema, index_params=index)
    store.point_alias(old)
    assert live_collection(store) is None
    report = update(make_items(tmp_path, "scarves", 4), StandInEmbedder(), store, progress=False)
    assert report.mode == "full" and store.current_collection() == report.collection
    assert store.count() == 4 and old in store.client.list_collections()


def test_a_collection_stores_colour_at_the_scale_of_the_default_weight(open_store, tmp_path):
    from fashion_search.vectordb.schema import VECTOR_FIELD
    from fashion_search.vectordb.vectors import COLOUR_SCALE

    items = make_items(tmp_path, "bags", 6)
    store = open_store()
    name = rebuild(items, StandInEmbedder(), store, progress=False).collection
    assert store.info(name).colour_scale == pytest.approx(COLOUR_SCALE)
    row = store.client.query(name, filter=f'id == "{items[0].id}"', output_fields=[VECTOR_FIELD],
                             consistency_level="Strong")[0]
    stored = np.asarray(row[VECTOR_FIELD], np.float32)
    assert np.linalg.norm(stored[:DIM]) == pytest.approx(1, abs=1e-4)
    assert np.linalg.norm(stored[DIM:]) == pytest.approx(COLOUR_SCALE, abs=1e-4)
    # a search at weight 0 scores the embedding alone: the item finds itself at 1.0
    vector = StandInEmbedder().vector(items[0].path.read_bytes())
    hit = store.search(vector, k=1)[0]
    assert hit.id == items[0].id and hit.score == pytest.approx(1.0, abs=1e-4)
    if open_store.backend == "server":  # the category splits a server collection 16 ways
        assert len(store.client.list_partitions(name)) == 16
