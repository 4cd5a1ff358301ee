"""A catalogue's data stays data on the page: names written as markup are shown as text and
fetch nothing, and the page serves the photos that were indexed and no file added later."""

from __future__ import annotations

import csv
import shutil
from urllib.parse import quote

import pytest
import requests
from gradio_client.utils import strip_invalid_filename_characters

from fashion_search.catalog import open_catalog
from fashion_search.demo.app import build_app
from fashion_search.demo.launch import catalogue_photos, launch
from fashion_search.serving.search import VisualSearch
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore
from tests.conftest import free_port
from tests.demo.conftest import captions, choose, shot, upload, wait_for_results

pytestmark = pytest.mark.browser

HOST = "127.0.0.1:7998"  # nothing listens there: the test records whether the page asks
CATEGORY = f"<img src=http://{HOST}/category.png>"
LINKED = f"[Watches](http://{HOST}/category)"
FIT = "<b>Fit</b>"
SCRIPT = "<script>window.hostile = 1</script>"
SLIM = "*slim* _fit_"
SEASON = f"[Season](http://{HOST}/column)"
UPLOAD = "[x](javascript:alert(12)).jpg"
PER_KIND = 10
MARKUP = """() => [...document.querySelectorAll('img, a, b, u, script, iframe')].filter(e =>
    /7998|javascript/.test((e.getAttribute('src') || '') + (e.getAttribute('href') || ''))
    || (e.tagName === 'B' && e.textContent === 'Fit') || e.tagName === 'U'
    || (e.tagName === 'SCRIPT' && e.textContent.trim() === 'window.hostile = 1')
    || e.tagName === 'IFRAME').map(e => e.outerHTML)"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, catalog_items):
    """A CSV catalogue of 20 real photos whose categories, columns, values, ids and file names
    are markup; one photo is a JPEG named ``.html``."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "images").mkdir()
    rows = []
    for kind, category in (("Tshirts", CATEGORY), ("Watches", LINKED)):
        for n, item in enumerate([i for i in catalog_items if i.category == kind][:PER_KIND]):
            name = f"{kind} {n}.html" if (kind, n) == ("Watches", 0) else f"{kind} _{n}_ [{n}](x).jpg"
            shutil.copyfile(item.path, root / "images" / name)
            rows.append({"id": f"<u>{kind}{n}</u>", "category": category, "image": name,
                         FIT: SCRIPT if n % 2 else SLIM, SEASON: "Summer" if n % 3 else "Winter"})
    with (root / "styles.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def hostile_url(hostile, client):
    store = CatalogStore(str(hostile / "catalog.db"))
    rebuild(open_catalog(hostile), client, store, progress=False)
    app = build_app(VisualSearch(client, store))
    launch(app, "127.0.0.1", free_port(), catalogue_photos(store))
    yield f"http://127.0.0.1:{app.server_port}"
    app.close()
    store.close()


def test_markup_in_the_catalogue_and_upload_names_is_shown_as_text(browser, hostile,
                                                                   hostile_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        page.goto(hostile_url)
        page.wait_for_selector("#photo")
        named = tmp_path / UPLOAD
        shutil.copyfile(next((hostile / "images").glob("Tshirts _0_*")), named)
        upload(page, named)
        stored = strip_invalid_filename_characters(UPLOAD)  # what Gradio keeps of the name
        message = wait_for_results(page, f"for {stored}")
        assert f"Looks like: {CATEGORY} (" in message
        assert page.locator("#status em").inner_text() == stored

        page.locator("#category input").click()
        assert {CATEGORY, LINKED} <= set(page.get_by_role("option").all_inner_texts())
        page.keyboard.press("Escape")
        choose(page, "category", CATEGORY)
        choose(page, "filter-_b_Fit__b_", SCRIPT)
        message = wait_for_results(page, f"in {CATEGORY} with {FIT}: {SCRIPT}")
        assert page.locator("#status strong").inner_text() == CATEGORY
        texts = captions(page)
        assert texts and all(t.startswith(f"{CATEGORY} ·") and SCRIPT in t for t in texts), texts
        assert FIT in page.locator("#filter-_b_Fit__b_").inner_text()
        assert SEASON in page.locator("#filters").inner_text()

        page.locator("#results .thumbnail-item").nth(1).click()
        wait_for_results(page, "for <u>Tshirts")
        shot(page, "demo-catalogue-text")
        assert page.evaluate(MARKUP) == []
        assert page.evaluate("window.hostile") is None
    finally:
        page.close()
    assert [url for url in asked if "7998" in url or url.startswith("javascript")] == []


def test_only_the_indexed_photos_are_served_and_no_file_added_later(hostile, hostile_url):
    def fetch(path) -> requests.Response:
        return requests.get(f"{hostile_url}/gradio_api/file={quote(str(path))}", timeout=30)

    images = hostile / "images"
    shirt = next(images.glob("Tshirts _1_*"))
    answer = fetch(shirt)
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.content == shirt.read_bytes()
    assert fetch(images / "Watches 0.html").headers["content-type"] == "image/jpeg"

    (images / "later.html").write_text("<html><script>alert(1)</script></html>")
    shutil.copyfile(shirt, images / "later.jpg")
    for added in (images / "later.html", images / "later.jpg", hostile / "styles.csv",
                  hostile / "catalog.db"):
        assert fetch(added).status_code in (403, 404), added

    original = shirt.read_bytes()
    shirt.write_text("<html><script>alert(1)</script></html>")  # a photo replaced by a page
    try:
        answer = fetch(shirt)
        assert answer.status_code == 404 and "html" not in answer.headers.get("content-type", "")
    finally:
        shirt.write_bytes(original)
