"""Debian's headless Chromium under Playwright, for the page's tests and its bench.

Nothing is downloaded: Playwright drives the system's ``chromium``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_search.errors import MissingInput

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


@contextmanager
def playwright() -> Iterator[Playwright]:
    """Playwright, once Chromium is known to be there (a clear error if not)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise MissingInput(f"{CHROMIUM} not found; install chromium (Debian: apt-get "
                           "install chromium)")
    with sync_playwright() as play:
        yield play


def open_chromium(play: Playwright, *args: str) -> Browser:
    """A headless Chromium; ``args`` add switches (a fake camera, say)."""
    return play.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                args=CHROMIUM_ARGS + list(args))


@contextmanager
def chromium(*args: str) -> Iterator[Browser]:
    """One Chromium for a ``with`` block (Playwright's sync API allows one at a time)."""
    with playwright() as play:
        browser = open_chromium(play, *args)
        try:
            yield browser
        finally:
            browser.close()
