"""What survives a dead index run: a kill -9, a Milvus that goes away, a reader mid-switch.

The runs here are real processes embedding real photos through the real Triton
server into a real Milvus (a Lite file and a server), killed part-way.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fashion_search.catalog import open_catalog
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore
from tests.conftest import restart_milvus
from tests.vectordb.test_lifecycle import StandInEmbedder, make_items

pytestmark = pytest.mark.integration

INDEX_SCRIPT = """
import sys
from fashion_search.catalog import open_catalog
from fashion_search.client import EmbeddingClient
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore

uri, alias, triton, catalog, limit = sys.argv[1:]
rebuild(open_catalog(catalog)[:int(limit)], EmbeddingClient(triton), CatalogStore(uri, alias=alias),
        catalog="B", batch_size=8)
"""


class Progress:
    """Follows a run's progress bar on its stderr."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.text = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := os.read(self.process.stderr.fileno(), 4096):
            self.text += chunk.decode(errors="replace")

    def done(self) -> int:
        counts = re.findall(r"\| *(\d+)/\d+ ", self.text)
        return int(counts[-1]) if counts else 0

    def wait_for(self, photos: int, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.done() < photos:
            assert self.process.poll() is None, f"the run ended early:\n{self.text[-2000:]}"
            assert time.monotonic() < deadline, f"no progress:\n{self.text[-2000:]}"
            time.sleep(0.01)
        return self.done()

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code


def backend(open_store, tmp_path: Path) -> tuple[str, str]:
    """(uri, alias) of a fresh catalogue that another process may open."""
    if open_store.backend == "lite":  # not opened here: a Lite file serves one process
        return str(tmp_path / "killed.db"), "catalog"
    store = open_store()
    return store.uri, store.alias


def triton_client(triton):
    from fashion_search.client import EmbeddingClient

    return EmbeddingClient(triton.grpc_url)


def test_a_run_killed_mid_index_never_costs_the_catalogue_it_would_replace(
        open_store, tmp_path, triton, products_dir, catalog_items):
    uri, alias = backend(open_store, tmp_path)
    store = CatalogStore(uri, alias=alias)
    first = rebuild(catalog_items[:40], triton_client(triton), store, catalog="A", progress=False)
    store.close()  # a Lite file serves one process: the run below takes it

    run = subprocess.Popen([sys.executable, "-c", INDEX_SCRIPT, uri, alias, triton.grpc_url,
                            str(products_dir), "300"], stderr=subprocess.PIPE)
    progress = Progress(run)
    reached = progress.wait_for(96)
    run.send_signal(signal.SIGKILL)
    progress.finish(30)
    assert reached < 300

    store = CatalogStore(uri, alias=alias)
    try:
        killed = [c.name for c in store.collections() if c.name != first.collection]
        assert store.current_collection() == first.collection  # the kill changed nothing live
        again = rebuild(open_catalog(products_dir)[:300], triton_client(triton), store,
                        catalog="B", batch_size=32, progress=False)
        names = [c.name for c in store.collections()]
        # the half-filled collection went first; the one replaced stays to switch back to
        assert set(killed) <= set(again.dropped)
        assert names == [first.collection, again.collection]
        assert store.count(first.collection) == 40 and store.count() == 300
    finally:
        store.close()


def test_a_reader_holding_the_old_collection_keeps_working_through_a_switch(
        open_store, tmp_path, monkeypatch):
    monkeypatch.setattr("fashion_search.vectordb.store.POINTER_TTL_S", 3600.0)  # mid-request
    store, reader = open_store(), open_store()
    shoes = make_items(tmp_path / "a", "shoes", 12)
    first = rebuild(shoes, StandInEmbedder(), store, progress=False)
    vector = StandInEmbedder().vector(shoes[3].path.read_bytes())
    assert reader.search(vector, k=1)[0].id == shoes[3].id  # the reader now holds `first`
    rebuild(make_items(tmp_path / "b", "dresses", 8), StandInEmbedder(), store, progress=False)
    # the reader still reads `first`, which the switch kept; once it looks again, the new one
    assert reader.current_collection() == first.collection
    assert reader.search(vector, k=1)[0].id == shoes[3].id
    reader.refresh()
    assert reader.categories() == ["dresses"]


def test_pruning_counts_only_collections_that_went_live(open_store, tmp_path):
    from fashion_search.vectordb.lifecycle import start_run
    from fashion_search.vectordb.schema import CollectionInfo, collection_name, new_run_id

    store = open_store()
    items = make_items(tmp_path, "coats", 6)
    live = [rebuild(items, StandInEmbedder(), store, progress=False).collection for _ in range(2)]
    dead = []
    for _ in range(3):  # runs that died after creating their collection, before going live
        run = new_run_id()
        name = collection_name("v1", run)
        start_run(store, CollectionInfo.for_model(name, StandInEmbedder().info(), store.alias,
                                                  run=run))
        dead.append(name)
    # each start dropped the one before it: only the newest dead run is still there
    assert [c.name for c in store.collections()] == [*live, dead[-1]]
    third = rebuild(items, StandInEmbedder(), store, keep=1, progress=False)
    assert third.dropped == [dead[-1], live[0]]
    assert [c.name for c in store.collections()] == [live[1], third.collection]


def test_an_update_from_a_moved_copy_points_every_row_at_the_new_paths(open_store, tmp_path):
    from fashion_search.vectordb.lifecycle import update

    items = make_items(tmp_path / "old", "belts", 10)
    store = open_store()
    rebuild(items, StandInEmbedder(), store, progress=False)
    moved = make_items(tmp_path / "new", "belts", 10)  # same photos, same ids, a new folder
    embedder = StandInEmbedder()
    report = update(moved, embedder, store, progress=False)
    assert (report.moved, report.unchanged, report.changed, embedder.photos) == (10, 0, 0, 0)
    assert "moved 10" in report.summary()
    paths = {hit.image_path for hit in store.search(embedder.vector(moved[0].path.read_bytes()),
                                                    k=10)}
    assert paths == {str(item.path) for item in moved}
    again = update(moved, embedder, store, progress=False)
    assert (again.moved, again.unchanged) == (0, 10)


def test_milvus_dying_mid_index_ends_the_run_with_a_clear_error_in_bounded_time(
        tmp_path, milvus_process, milvus_server, triton, products_dir, catalog_items):
    timeout_s, uri = 5, milvus_server
    store = CatalogStore(uri)  # the CLI's own alias, which no other test uses
    first = rebuild(catalog_items[:40], triton_client(triton), store, progress=False)
    store.close()
    env = {**os.environ, "FASHION_SEARCH_HOME": str(tmp_path / "home"),
           "FASHION_SEARCH_MILVUS_URI": uri, "FASHION_SEARCH_TRITON_URL": triton.grpc_url,
           "FASHION_SEARCH_MILVUS_TIMEOUT_S": str(timeout_s)}
    run = subprocess.Popen([sys.executable, "-m", "fashion_search.cli", "index", "--catalog",
                            str(products_dir), "--limit", "300", "--batch-size", "8"],
                           stderr=subprocess.PIPE, env=env)
    progress = Progress(run)
    try:
        progress.wait_for(64)
        milvus_process.server_proc.kill()
        milvus_process.server_proc.wait()
        gone_at = time.monotonic()
        code = progress.finish(timeout=120)
        took = time.monotonic() - gone_at
    finally:
        run.kill()
        restart_milvus(milvus_process)  # back, data and all, for this test and those after it
        assert f"http://127.0.0.1:{milvus_process.listen_port}" == uri
    last = progress.text.strip().splitlines()[-1]
    assert code == 2, progress.text[-3000:]
    assert re.match(rf"error: the Milvus catalogue at {re.escape(uri)} failed \(\w+: ", last), last
    assert f"no answer within {timeout_s} s (FASHION_SEARCH_MILVUS_TIMEOUT_S)" in last
    # the call, the failed run's clean-up and the lease each wait one deadline at most
    assert took < 4 * timeout_s + 10, f"the run took {took:.0f} s to give up"

    store = CatalogStore(uri)
    try:
        assert store.current_collection() == first.collection
        again = rebuild(catalog_items[:50], triton_client(triton), store, progress=False)
        # the killed run's half-filled collection went first; the one replaced stays
        assert [c.name for c in store.collections()] == [first.collection, again.collection]
        assert store.count(first.collection) == 40 and store.count() == 50
    finally:
        store.close()


def test_switching_back_makes_the_replaced_catalogue_live_and_the_next_index_prunes_the_bad_one(
        open_store, tmp_path):
    from fashion_search.errors import CatalogCheckFailed
    from fashion_search.vectordb.lifecycle import switch_back

    store, reader = open_store(), open_store()
    good = rebuild(make_items(tmp_path / "a", "shoes", 6), StandInEmbedder(), store,
                   progress=False).collection
    with pytest.raises(CatalogCheckFailed, match=r"no earlier collection to switch back to"):
        switch_back(store)
    bad = rebuild(make_items(tmp_path / "b", "hats", 4), StandInEmbedder(), store,
                  progress=False).collection
    assert switch_back(store) == (good, bad)
    reader.refresh()
    assert reader.current_collection() == good and reader.categories() == ["shoes"]
    newer = rebuild(make_items(tmp_path / "c", "shoes", 7), StandInEmbedder(), store,
                    progress=False)
    # the one it replaced (good) stays; the one switched away from goes
    assert newer.dropped == [bad]
    assert [c.name for c in store.collections()] == [good, newer.collection]
