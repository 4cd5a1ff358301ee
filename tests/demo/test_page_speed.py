"""From a click on a result to the new results painted, at 10,000 catalogue items."""

from __future__ import annotations

import pytest

from fashion_search.bench.page_latency import PageTiming, measure_page, padded_copy
from fashion_search.demo.app import build_app
from fashion_search.demo.launch import launch
from fashion_search.serving.search import VisualSearch
from fashion_search.vectordb.store import CatalogStore
from tests.conftest import free_port
from tests.demo.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

ROWS = 10_000
CLICKS = 20
INTERACTIVE_MS = 1000  # a guard against a page gone slow; the 300 ms target is checked by the bench


@pytest.fixture(scope="module")
def large_page(indexed, client, catalog_items, tmp_path_factory):
    store, _ = indexed
    copy = CatalogStore(str(tmp_path_factory.mktemp("large") / "catalog.db"))
    padded_copy(store, copy, ROWS)
    app = launch(build_app(VisualSearch(client, copy)), "127.0.0.1", free_port(),
                 [item.path for item in catalog_items])
    yield f"http://127.0.0.1:{app.server_port}", copy
    app.close()
    copy.close()


def test_a_result_click_paints_new_results_in_interactive_time(large_page, browser,
                                                                catalog_items):
    url, copy = large_page
    assert copy.count() == ROWS
    timing = PageTiming(ROWS, measure_page(url, catalog_items[5].path, CLICKS, browser))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "page-latency.txt").write_text(timing.table() + "\n")
    assert len(timing.clicks) == CLICKS and min(timing.clicks) > 0
    assert timing.percentile(50) <= INTERACTIVE_MS, timing.table()
