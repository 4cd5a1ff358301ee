"""The demo page driven in a real headless Chromium: upload, filter, see K results."""

from pathlib import Path

import pytest

from fashion_search.config import PROJECT_ROOT
from fashion_search.demo.app import build_app
from fashion_search.search import VisualSearch
from tests.conftest import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def page_url(indexed, client, products_dir):
    store, _ = indexed
    app = build_app(VisualSearch(client, store))
    app.queue()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True,
               allowed_paths=[str(products_dir)], quiet=True)
    yield f"http://127.0.0.1:{port}"
    app.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "browser tests need Debian's chromium: apt-get install chromium"
    with sync_playwright() as play:
        browser = play.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                       args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def choose_category(page, name: str) -> None:
    box = page.locator("#category input")
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name, exact=True).click()


def set_k(page, k: int) -> None:
    number = page.locator("#k input[type=number]")
    number.fill(str(k))
    number.press("Enter")


def test_upload_filter_and_see_k_results_of_that_category(page_url, browser, catalog_items):
    ARTIFACTS.mkdir(exist_ok=True)
    query = next(i for i in catalog_items if i.category == "Tshirts")
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(page_url)
    page.wait_for_selector("#photo")
    set_k(page, 5)
    choose_category(page, "Tshirts")
    page.locator("#photo input[type=file]").set_input_files(str(query.path))
    status = page.locator("#status")
    status.get_by_text("5 similar items in Tshirts").wait_for(timeout=60_000)
    captions = page.locator("#results .caption-label, #results figcaption")
    images = page.locator("#results img")
    images.nth(4).wait_for(timeout=30_000)
    assert images.count() == 5
    texts = [captions.nth(i).inner_text() for i in range(captions.count())]
    assert len(texts) == 5 and all(t.startswith("Tshirts ·") for t in texts), texts
    assert texts[0].endswith("· 100% match")  # the query itself is in the catalogue
    page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    page.close()


def test_unreadable_upload_gets_a_message_not_a_traceback(page_url, browser, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    page = browser.new_page()
    page.goto(page_url)
    page.wait_for_selector("#photo")
    page.locator("#photo input[type=file]").set_input_files(str(broken))
    message = page.locator("#status").get_by_text("Could not search")
    message.wait_for(timeout=60_000)
    text = page.locator("#status").inner_text()
    assert "broken.jpg" in text and "corrupt or truncated" in text
    assert "Traceback" not in page.content()
    assert page.locator("#results img").count() == 0
    page.close()
