"""The page's speed as a shopper feels it: from a click on a result to the new results painted.

Measured in a real headless Chromium against the real page, Triton and a
Milvus Lite catalogue of ``rows`` items: the live catalogue's own rows and,
past them, mixes of real neighbours (grown as in catalog_scale), each shown
with the photo of the real item it was grown from. The clock runs in the page:
from the click to the moment Gradio's progress line is gone again (the new
message is on screen) and every result photo on screen has loaded.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fashion_search.bench.browser import chromium
from fashion_search.bench.catalog_scale import grow
from fashion_search.config import Settings, load_settings
from fashion_search.demo.app import build_app
from fashion_search.demo.launch import catalogue_photos, launch
from fashion_search.errors import CatalogNotIndexed
from fashion_search.export.run import ensure_model
from fashion_search.serving.search import VisualSearch
from fashion_search.serving.serve import ensure_server
from fashion_search.vectordb.schema import VECTOR_FIELD, Row, collection_name
from fashion_search.vectordb.store import CatalogStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

log = logging.getLogger(__name__)

TARGET_MS = 300.0
# True once every result photo on screen has loaded (those below the fold load lazily).
PAINTED = """() => {
  const onScreen = p => { const r = p.getBoundingClientRect();
    return r.width > 0 && r.bottom > 0 && r.top < window.innerHeight; };
  const photos = [...document.querySelectorAll('#results img')].filter(onScreen);
  return photos.length > 0 && photos.every(p => p.complete && p.naturalWidth > 0);
}"""
# Runs in the page: click result ``index``; done once Gradio's progress line has come and
# gone (the message is then the new one) and the result photos on screen have loaded.
_CLICK_AND_WAIT = """async ([index, limit]) => {
  const painted = PAINTED;
  const pending = () => !document.querySelector('#status [data-testid="status-tracker"]')
    .classList.contains('hide');
  let started = false;
  const start = performance.now();
  document.querySelectorAll('#results .thumbnail-item')[index].click();
  for (;;) {
    await new Promise(r => requestAnimationFrame(r));
    if (pending()) started = true;
    else if (started && painted()) break;
    if (performance.now() - start > limit) throw new Error('no new results within ' + limit + ' ms');
  }
  return performance.now() - start;
}""".replace("PAINTED", PAINTED)


@dataclass(frozen=True)
class PageTiming:
    """Click-to-results times on a catalogue of ``rows`` items, and their table."""

    rows: int
    clicks: list[float]  # milliseconds, one per click

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.clicks, q))

    def table(self) -> str:
        p50, p90, p99 = (self.percentile(q) for q in (50, 90, 99))
        verdict = "meets" if p50 <= TARGET_MS else "misses"
        return "\n".join([
            f"{'measure':<44} {'items':>7} {'clicks':>6} {'p50 ms':>7} {'p90 ms':>7} "
            f"{'p99 ms':>7}",
            f"{'click a result -> new results painted':<44} {self.rows:>7,} {len(self.clicks):>6} "
            f"{p50:>7.0f} {p90:>7.0f} {p99:>7.0f}",
            f"target p50 <= {TARGET_MS:.0f} ms: {verdict} it "
            f"(mean {statistics.fmean(self.clicks):.0f} ms)"])


def padded_copy(source: CatalogStore, target: CatalogStore, rows: int, seed: int = 0) -> str:
    """Copy ``source``'s live catalogue into ``target``, grown to ``rows`` items; goes live there."""
    name = source.current_collection()
    info = source.info(name)
    fields = [VECTOR_FIELD, "category", "image_path", "model_version", "labels"]
    real = list(source.scan(name, ["id", *fields]))
    vectors = np.asarray([r[VECTOR_FIELD] for r in real], np.float32)
    # grow() carries a label per row along; given row numbers, it says which real row each
    # grown one came from, whose category, photo and labels the grown row then shares
    grown, picks = grow(vectors, list(range(len(real))), max(rows, len(real)), info.dim,
                        info.colour_scale, seed)
    copy = replace(info, name=collection_name(info.model_version, "padded"), alias=target.alias)
    target.create_collection(copy)
    batch = []
    for n, (vector, pick) in enumerate(zip(grown, picks)):
        base = real[pick]
        item_id = str(base["id"]) if n < len(real) else f"{base['id']}~{n}"
        shade = vector[info.dim:] / info.colour_scale if info.colour_dim else None
        batch.append(Row(item_id, vector[:info.dim], base["category"], base["image_path"],
                         base["model_version"], labels=base["labels"] or {}, colour=shade))
    target.insert(copy.name, batch)
    target.point_alias(copy.name)
    log.info("catalogue copy of %d items (%d real) is live in %s", len(batch), len(real),
             target.uri)
    return copy.name


def time_result_clicks(page: Page, clicks: int, limit_ms: float = 30_000) -> list[float]:
    """Milliseconds from each click on a result to its results painted (results must show)."""
    times = []
    for n in range(clicks):
        times.append(float(page.evaluate(_CLICK_AND_WAIT, [1 + n % 3, limit_ms])))
    return times


def measure_page(url: str, first_photo: Path, clicks: int, browser: Browser) -> list[float]:
    """Open the page, search ``first_photo``, then time ``clicks`` result clicks."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(url)
        page.locator("#photo input[type=file]").set_input_files(str(first_photo))
        page.locator("#status").get_by_text("similar items").wait_for(timeout=60_000)
        page.locator("#results img").first.wait_for(timeout=30_000)
        time_result_clicks(page, 3)  # warm-up: first paints, first cache copies
        return time_result_clicks(page, clicks)
    finally:
        page.close()


def bench_page(rows: int = 10_000, clicks: int = 40, settings: Settings | None = None
               ) -> PageTiming:
    """The live catalogue grown to ``rows`` items, served on a page, timed in Chromium."""
    settings = settings or load_settings()
    served = ensure_model(settings=settings)
    with ExitStack() as stack:
        client = ensure_server(settings, stack, expected_version=served.version)
        source = stack.enter_context(_closing(CatalogStore(settings.resolved_milvus_uri,
                                                           settings.milvus_token)))
        try:
            source.current_collection()
        except CatalogNotIndexed as err:
            raise CatalogNotIndexed(f"{err}; the page bench copies the live catalogue, so run "
                                    "`fashion-search index` (or `make demo`) first") from err
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        target = stack.enter_context(_closing(CatalogStore(str(Path(tmp) / "page.db"))))
        padded_copy(source, target, rows)
        images = catalogue_photos(target)
        app = launch(build_app(VisualSearch(client, target)), "127.0.0.1", None, images)
        stack.callback(app.close)
        browser = stack.enter_context(chromium())
        times = measure_page(f"http://127.0.0.1:{app.server_port}", Path(images[0]), clicks,
                             browser)
    return PageTiming(rows, times)


@contextmanager
def _closing(store: CatalogStore) -> Iterator[CatalogStore]:
    try:
        yield store
    finally:
        store.close()

