"""Real photos through real Triton into real Milvus Lite: rankings, filters, upserts."""

import pytest

from fashion_search.errors import CatalogNotIndexed, UnknownCategory, UnknownLabel
from fashion_search.serving.search import VisualSearch
from fashion_search.vectordb.schema import CollectionInfo, collection_name
from fashion_search.vectordb.store import CatalogStore

pytestmark = pytest.mark.integration


def test_every_sampled_photo_finds_itself_first(indexed, client, catalog_items):
    store, report = indexed
    assert report.indexed == len(catalog_items) and not report.skipped
    search = VisualSearch(client, store)
    for item in catalog_items[::15]:
        hits = search.search(item.path.read_bytes(), k=3)
        assert hits[0].id == item.id
        assert hits[0].score > 0.999
        assert hits[0].score >= hits[1].score >= hits[2].score


def test_category_filter_returns_only_that_category(indexed, client, catalog_items):
    store, _ = indexed
    search = VisualSearch(client, store)
    query = next(i for i in catalog_items if i.category == "Watches")
    expected = sum(1 for i in catalog_items if i.category == "Tshirts")
    hits = search.search(query.path.read_bytes(), k=10, category="Tshirts")
    assert len(hits) == min(10, expected)
    assert {h.category for h in hits} == {"Tshirts"}
    unfiltered = search.search(query.path.read_bytes(), k=10)
    assert unfiltered[0].id == query.id


def test_k_larger_than_a_category_returns_the_whole_category(indexed, client, catalog_items):
    store, _ = indexed
    counts = {}
    for item in catalog_items:
        counts[item.category] = counts.get(item.category, 0) + 1
    small = min(counts, key=counts.get)
    hits = VisualSearch(client, store).search(catalog_items[0].path.read_bytes(), k=50,
                                              category=small)
    assert len(hits) == counts[small]


def test_an_update_of_an_unchanged_catalogue_embeds_nothing(indexed, client, catalog_items):
    from fashion_search.vectordb.lifecycle import update

    store, report = indexed
    again = update(catalog_items, client, store, progress=False)
    assert (again.mode, again.collection) == ("incremental", report.collection)
    assert again.unchanged == len(catalog_items) and again.added == again.changed == 0
    assert store.count() == len(catalog_items)


def test_rows_and_collection_record_the_model_version(indexed, exported):
    store, report = indexed
    info = store.info(report.collection)
    assert report.collection.startswith(collection_name(exported.model_version) + "__")
    assert info.model_version == exported.model_version and info.dim == 1280
    rows = store.client.query(report.collection, filter="", output_fields=["model_version"],
                              limit=50)
    assert {r["model_version"] for r in rows} == {exported.model_version}


def test_every_catalogue_column_can_filter_alone_or_combined(indexed, client, catalog_items):
    store, _ = indexed
    query = catalog_items[0].path.read_bytes()
    search = VisualSearch(client, store)
    women = {i.id for i in catalog_items if i.labels["gender"] == "Women"}
    hits = search.search(query, k=300, where={"gender": ["women"]})
    assert {h.id for h in hits} == women
    both = {i.id for i in catalog_items
            if i.labels["gender"] == "Women" and i.labels["baseColour"] in ("Black", "White")}
    hits = search.search(query, k=300, where={"gender": ["Women"],
                                              "baseColour": ["Black", "White"]})
    assert {h.id for h in hits} == both and both
    assert set(store.labels()) >= {"gender", "masterCategory", "subCategory", "baseColour",
                                   "season", "usage", "year"}


def test_categories_come_from_the_collection(indexed, catalog_items):
    store, _ = indexed
    assert store.categories() == sorted({i.category for i in catalog_items})


def test_unknown_category_lists_the_real_ones(indexed, client, catalog_items):
    store, _ = indexed
    with pytest.raises(UnknownCategory, match="unknown category 'Spacesuits'; choose one of: "):
        VisualSearch(client, store).search(catalog_items[0].path.read_bytes(), category="Spacesuits")


def test_category_matches_ignoring_case(indexed, client, catalog_items):
    store, _ = indexed
    hits = VisualSearch(client, store).search(catalog_items[0].path.read_bytes(), k=5,
                                              category=" tshirts")
    assert {h.category for h in hits} == {"Tshirts"}


HOSTILE = ['Tshirts" or category != "', "Tshirts' or id != '", 'x" || 1 == 1 || "', "\\",
           '") or (category like "%', "Tshirts\x00", " or true", "%", "*", "[]", "Women\n"]


@pytest.mark.parametrize("sneaky", HOSTILE)
def test_filter_text_cannot_widen_the_search(indexed, client, catalog_items, sneaky):
    store, _ = indexed
    photo = catalog_items[0].path.read_bytes()
    with pytest.raises(UnknownCategory):
        VisualSearch(client, store).search(photo, category=sneaky)
    with pytest.raises(UnknownLabel):
        VisualSearch(client, store).search(photo, where={"gender": [sneaky]})
    with pytest.raises(UnknownLabel):
        VisualSearch(client, store).search(photo, where={sneaky: ["Women"]})


def test_empty_catalogue_says_to_index_first(tmp_path):
    store = CatalogStore(str(tmp_path / "new.db"))
    with pytest.raises(CatalogNotIndexed, match="fashion-search index"):
        store.current_collection()
    store.close()


def version_collection(store: CatalogStore, version: str, dim: int) -> str:
    """The run-less collection of a model version, made (or found) in ``store``."""
    return store.create_collection(CollectionInfo(collection_name(version), version, dim,
                                                  "COSINE", store.alias))


def test_a_collection_of_another_dimension_is_refused_with_what_to_do(tmp_path):
    from fashion_search.errors import CollectionMismatch

    store = CatalogStore(str(tmp_path / "dims.db"))
    try:
        version_collection(store, "model-a", 8)
        with pytest.raises(CollectionMismatch,
                           match="holds 8-d embeddings and 0 colour values but the model "
                                 "gives 4 and 0"):
            version_collection(store, "model-a", 4)
    finally:
        store.close()


@pytest.mark.parametrize("k", [0, 16_385, 10**9])
def test_a_result_count_outside_what_milvus_returns_is_refused_naming_the_limit(indexed, k):
    from fashion_search.errors import InvalidRequest

    store, _ = indexed
    with pytest.raises(InvalidRequest, match=rf"must be 1 to 16,384 \(Milvus returns at most "
                                             rf"16,384 per search\), got {k:,}$"):
        store.search([0.0] * store.info(store.current_collection()).dim, k=k)


def test_a_huge_unknown_category_or_value_is_clipped_in_the_message(indexed, client,
                                                                      catalog_items):
    store, _ = indexed
    photo = catalog_items[0].path.read_bytes()
    huge = "Z" * 100_000
    with pytest.raises(UnknownCategory) as category:
        VisualSearch(client, store).search(photo, category=huge)
    with pytest.raises(UnknownLabel) as value:
        VisualSearch(client, store).search(photo, where={"gender": [huge]})
    for caught in (category, value):
        message = str(caught.value)
        assert len(message) < 2_000 and "... (100,000 characters)" in message


def _count_store_searches(store, monkeypatch) -> list:
    calls = []
    real = store.search

    def counted(*args, **kwargs):
        calls.append(kwargs.get("k"))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "search", counted)
    return calls


def test_a_search_without_suggestions_asks_the_catalogue_once(indexed, client, catalog_items,
                                                              monkeypatch):
    store, _ = indexed
    search = VisualSearch(client, store)
    photo = catalog_items[0].path.read_bytes()
    calls = _count_store_searches(store, monkeypatch)
    hits = search.search(photo, k=5)
    assert hits[0].id == catalog_items[0].id and calls == [5]
    calls.clear()
    results = search.find(photo, k=5)  # the category vote is a second, 10-neighbour search
    assert len(calls) == 2 and len(results.suggestions) == 3
    assert results.suggestions[0][0] == catalog_items[0].category
    calls.clear()
    guessed = search.find(photo, k=5, category="auto", suggestions=0)  # auto needs the vote
    assert len(calls) == 2 and guessed.category == catalog_items[0].category
    assert not guessed.suggestions


def test_a_catalogue_indexed_by_another_model_is_not_searched(client, catalog_items, tmp_path):
    from fashion_search.errors import CollectionMismatch

    info = client.info()
    store = CatalogStore(str(tmp_path / "other.db"))
    try:
        name = version_collection(store, info.version + "-int8", info.dim)
        store.point_alias(name)
        search = VisualSearch(client, store)
        with pytest.raises(CollectionMismatch,
                           match=f"indexed with model {info.version}-int8, but the server serves "
                                 f"{info.version}; index it again with `fashion-search index`"):
            search.search(catalog_items[0].path.read_bytes(), k=3)
    finally:
        store.close()
