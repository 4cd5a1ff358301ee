"""The page on CC0 photos (clothing-dataset-small), the picture the README points to.

It is drawn into ``test-artifacts/demo-cc0.png`` (never committed: no photos
in the repository) after checking that the page shows what the README says.
"""

from __future__ import annotations

import pytest

from fashion_search.catalog import open_catalog
from fashion_search.demo.app import build_app
from fashion_search.demo.launch import launch
from fashion_search.serving.search import VisualSearch
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore
from tests.conftest import free_port
from tests.demo.conftest import captions, shot, upload, wait_for_results

pytestmark = pytest.mark.browser

PER_CATEGORY = 12


@pytest.fixture(scope="module")
def cc0_catalogue(clothing_dir):
    """A few training photos of each kind: the catalogue the screenshot shows."""
    counts: dict[str, int] = {}
    items = []
    for item in open_catalog(clothing_dir):
        if item.split == "train" and counts.get(item.category, 0) < PER_CATEGORY:
            counts[item.category] = counts.get(item.category, 0) + 1
            items.append(item)
    return items


@pytest.fixture(scope="module")
def cc0_page_url(client, cc0_catalogue, clothing_dir, tmp_path_factory):
    store = CatalogStore(str(tmp_path_factory.mktemp("cc0") / "catalog.db"))
    report = rebuild(cc0_catalogue, client, store, progress=False)
    assert not report.skipped
    examples = [str(sorted((clothing_dir / "test" / kind).glob("*.jpg"))[0])
                for kind in ("dress", "shoes", "pants")]
    app = build_app(VisualSearch(client, store), examples=examples)
    launch(app, "127.0.0.1", free_port(), [item.path for item in cc0_catalogue])
    yield f"http://127.0.0.1:{app.server_port}"
    app.close()
    store.close()


def test_the_documentation_screenshot_shows_shoes_found_for_a_photo_of_shoes(browser, cc0_page_url,
                                                                           clothing_dir):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(cc0_page_url)
        page.wait_for_selector("#photo")
        query = sorted((clothing_dir / "test" / "shoes").glob("*.jpg"))[0]  # not in the catalogue
        upload(page, query)
        wait_for_results(page, f"for {query.name}")
        kinds = [text.split(" · ", 1)[0] for text in captions(page)]
        assert len(kinds) >= 6 and kinds[:3] == ["shoes"] * 3, kinds
        shot(page, "demo-cc0")
    finally:
        page.close()
