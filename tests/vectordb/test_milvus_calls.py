"""A Milvus call that fails reaches people as an error naming the catalogue and the call."""

import pytest
from pymilvus.exceptions import MilvusException

from fashion_search.errors import CatalogNotIndexed, MilvusFailure
from fashion_search.vectordb.milvus_calls import GuardedClient
from fashion_search.vectordb.store import CatalogStore


class GoneServer:
    uri_seen = "http://milvus:19530"

    def insert(self, name, rows):
        raise MilvusException(message="server unavailable: connection refused")

    def count(self):
        return 3

    def query_iterator(self, name, **kwargs):
        return DroppingIterator()


class DroppingIterator:
    def __init__(self):
        self.batches = [[{"id": "a"}]]

    def next(self):
        if self.batches:
            return self.batches.pop()
        raise MilvusException(message="connection reset mid-scan")


@pytest.mark.unit
def test_a_failed_call_names_the_catalogue_the_call_and_what_to_check():
    guarded = GuardedClient(GoneServer(), "http://milvus:19530")
    with pytest.raises(MilvusFailure) as caught:
        guarded.insert("catalog", [{"id": "a"}])
    assert str(caught.value) == (
        "the Milvus catalogue at http://milvus:19530 failed (insert: server unavailable: "
        "connection refused); check that the Milvus server is there and reachable, then run "
        "the step again")
    assert isinstance(caught.value.__cause__, MilvusException)


@pytest.mark.unit
def test_calls_that_work_and_plain_attributes_pass_through():
    guarded = GuardedClient(GoneServer(), "catalog.db")
    assert guarded.count() == 3 and guarded.uri_seen == "http://milvus:19530"


@pytest.mark.unit
def test_an_iterators_later_batches_fail_the_same_clear_way():
    iterator = GuardedClient(GoneServer(), "http://milvus:19530").query_iterator("catalog")
    assert iterator.next() == [{"id": "a"}]
    with pytest.raises(MilvusFailure, match=r"failed \(next: connection reset mid-scan\)"):
        iterator.next()


@pytest.mark.unit
def test_the_guarded_client_copies_like_any_object():
    import copy

    guarded = GuardedClient(GoneServer(), "catalog.db")
    assert copy.copy(guarded).count() == 3


@pytest.mark.integration
def test_a_real_lite_catalogue_refusing_a_call_says_so(tmp_path):
    store = CatalogStore(str(tmp_path / "catalog.db"))
    try:
        with pytest.raises(MilvusFailure, match=r"catalog\.db failed \(describe_collection: .*"
                                                 r"Milvus Lite file is there"):
            store.info("no_such_collection")
        with pytest.raises(CatalogNotIndexed):  # no alias yet: an answer, not a failure
            store.current_collection()
    finally:
        store.close()
