"""The demo page served on a real Triton and Milvus Lite catalogue, and a headless Chromium."""

from __future__ import annotations

import pytest

from fashion_search.bench.browser import open_chromium, playwright
from fashion_search.bench.page_latency import PAINTED
from fashion_search.config import PROJECT_ROOT
from fashion_search.demo.app import build_app
from fashion_search.demo.launch import launch
from fashion_search.serving.search import VisualSearch
from tests.conftest import free_port

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def examples(street2shop_dir, catalog_items):
    street = sorted((street2shop_dir / "person").glob("*.jpg"))[:2]
    return [str(p) for p in street] + [str(catalog_items[0].path), str(catalog_items[1].path)]


@pytest.fixture(scope="module")
def page_url(indexed, client, catalog_items, examples):
    store, _ = indexed
    app = build_app(VisualSearch(client, store), examples=examples)
    launch(app, "127.0.0.1", free_port(), [item.path for item in catalog_items])
    yield f"http://127.0.0.1:{app.server_port}"
    app.close()


@pytest.fixture(scope="session")
def play():
    with playwright() as opened:
        yield opened


@pytest.fixture(scope="session")
def browser(play):
    opened = open_chromium(play)
    yield opened
    opened.close()


def open_page(browser, url: str, height: int = 1000):
    """A desktop-width page, loaded."""
    opened = browser.new_page(viewport={"width": 1280, "height": height})
    opened.goto(url)
    opened.wait_for_selector("#photo")
    return opened


@pytest.fixture
def page(browser, page_url):
    opened = open_page(browser, page_url)
    yield opened
    opened.close()


def shot(page, name: str) -> None:
    """A screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def upload(page, path) -> None:
    page.locator("#photo input[type=file]").set_input_files(str(path))


def wait_for_results(page, text: str = "similar items", timeout: int = 60_000) -> str:
    """The message once it shows ``text``, with the result photos on screen loaded."""
    page.locator("#status").get_by_text(text).wait_for(timeout=timeout)
    page.locator("#results").scroll_into_view_if_needed()
    page.wait_for_function(PAINTED, timeout=timeout)
    return page.locator("#status").inner_text()


def captions(page) -> list[str]:
    labels = page.locator("#results .caption-label")
    return [labels.nth(i).inner_text() for i in range(labels.count())]


def choose(page, elem_id: str, *names: str) -> None:
    """Pick values in a dropdown (one, or several in a multi-select)."""
    box = page.locator(f"#{elem_id} input")
    for name in names:
        box.blur()  # a focused multi-select opens its list again only on a new focus
        box.click()
        box.fill(name)
        page.get_by_role("option", name=name, exact=True).click()
    page.keyboard.press("Escape")
