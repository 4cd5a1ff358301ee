"""The garments found on a street photo, drawn as clickable boxes on the demo page."""

from __future__ import annotations

from collections import Counter

import pytest

from fashion_search.demo.app import build_app
from fashion_search.demo.launch import launch
from fashion_search.garments import kind_of_category
from fashion_search.serving.search import VisualSearch
from fashion_search.training.garment_data import street_photos
from tests.conftest import free_port
from tests.demo.conftest import captions, open_page, shot, upload, wait_for_results

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def garment_page_url(indexed, client, catalog_items, garments):
    """The page with the garment finder beside the search."""
    store, _ = indexed
    app = build_app(VisualSearch(client, store, garments))
    launch(app, "127.0.0.1", free_port(), [item.path for item in catalog_items])
    yield f"http://127.0.0.1:{app.server_port}"
    app.close()


@pytest.fixture
def garment_page(browser, garment_page_url):
    opened = open_page(browser, garment_page_url, height=1100)
    yield opened
    opened.close()


def _with_two_kinds(street_dir, garments, catalogue_kinds):
    """A held-out street photo on which the finder sees two garments, the second of a kind
    the catalogue sells plenty of."""
    for photo in street_photos(street_dir, ("test",)):
        found = garments.find(photo.path.read_bytes(), photo.name)
        other = next((g for g in found[1:] if g.kind in catalogue_kinds), None)
        if other is not None:
            return photo, found, other
    pytest.fail("no held-out street photo shows two garments the finder finds")


def test_found_garments_are_boxes_and_a_click_searches_that_kind(garment_page, street_dir,
                                                                  garments, catalog_items):
    sold = Counter(kind_of_category(i.category) for i in catalog_items)
    sold = {kind for kind, count in sold.items() if kind and count >= len(catalog_items) / 8}
    photo, found, other = _with_two_kinds(street_dir, garments, sold)
    upload(garment_page, photo.path)
    message = wait_for_results(garment_page, f"(the {found[0].kind} found in it)")
    assert "similar items" in message
    legend = garment_page.locator("#garments .legend-item")
    assert [legend.nth(i).inner_text().strip() for i in range(legend.count())] == [
        g.kind for g in found]
    shot(garment_page, "demo-garments")
    legend.nth(found.index(other)).click()
    wait_for_results(garment_page, f"(the {other.kind} found in it)")
    kinds = [kind_of_category(text.split(" ·")[0]) for text in captions(garment_page)]
    assert sum(k == other.kind for k in kinds[:6]) >= 3, (other.kind, kinds)
    # the drawn box stays an alternative: the whole photo is one click away
    garment_page.locator("#whole").click()
    garment_page.wait_for_function(
        "() => { const t = document.querySelector('#status').innerText;"
        " return t.includes('similar items') && !t.includes('found in it'); }", timeout=60_000)
    assert f"for {photo.name}" in garment_page.locator("#status").inner_text()
