"""Photos in by every way the page offers: a box drawn on one, the camera, the clipboard."""

from __future__ import annotations

import base64

import pytest
from PIL import Image

from fashion_search.bench.browser import open_chromium
from tests.demo.conftest import captions, shot, upload, wait_for_results

pytestmark = pytest.mark.browser


def first_of(items, category: str):
    return next(i for i in items if i.category == category)


@pytest.fixture(scope="module")
def two_garments(tmp_path_factory, catalog_items):
    """One photo: a T-shirt on the left, a watch on the right (a street-ish scene of two)."""
    left, right = first_of(catalog_items, "Tshirts"), first_of(catalog_items, "Watches")
    images = [Image.open(i.path).convert("RGB").resize((240, 320)) for i in (left, right)]
    scene = Image.new("RGB", (480, 320), "white")
    scene.paste(images[0], (0, 0))
    scene.paste(images[1], (240, 0))
    path = tmp_path_factory.mktemp("scene") / "two-garments.png"
    scene.save(path)
    return path


def click_at(page, fx: float, fy: float) -> None:
    box = page.locator("#photo img").first.bounding_box()
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


@pytest.mark.parametrize("side, category, corners", [
    ("left", "Tshirts", ((0.04, 0.05), (0.46, 0.95))),
    ("right", "Watches", ((0.96, 0.95), (0.54, 0.05))),  # drawn from the other corner
])
def test_a_box_drawn_on_the_photo_searches_just_that_garment(page, two_garments, side, category,
                                                             corners):
    upload(page, two_garments)
    wait_for_results(page)
    click_at(page, *corners[0])
    page.locator("#status").get_by_text("Corner set").wait_for(timeout=30_000)
    click_at(page, *corners[1])
    message = wait_for_results(page, "the box you drew")
    # the part searched is shown beside the results (painted with them, loaded just after)
    page.locator("#searched img").first.wait_for(state="visible", timeout=10_000)
    texts = captions(page)
    assert texts[0].startswith(f"{category} ·"), texts  # the garment in the box, found first
    assert "two-garments.png" in message
    shot(page, f"demo-crop-{side}")
    page.locator("#whole").click()
    page.locator("#status").get_by_text("the box you drew").wait_for(state="detached",
                                                                      timeout=30_000)
    assert not page.locator("#searched").is_visible()


def test_a_camera_frame_is_searched(tmp_path, play, page_url, catalog_items):
    item = first_of(catalog_items, "Handbags")
    frame = tmp_path / "camera.mjpeg"  # Chromium's fake camera plays this file as its stream
    Image.open(item.path).convert("RGB").resize((240, 320)).save(frame, format="JPEG", quality=95)
    browser = open_chromium(play, "--use-fake-ui-for-media-stream",
                            "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-video-capture={frame}")
    try:
        context = browser.new_context(permissions=["camera"])
        page = context.new_page()
        page.goto(page_url)
        page.locator("#photo button[aria-label='Capture from camera']").click()
        page.get_by_text("Click to Access Webcam").click()
        page.locator("#photo video").wait_for(timeout=30_000)
        # a frame on screen, not a guess at how long one takes
        page.wait_for_function("() => { const v = document.querySelector('#photo video');"
                               " return v && v.readyState >= 2 && v.videoWidth > 0; }",
                               timeout=30_000)
        page.locator("#photo button[aria-label='capture photo']").click()
        wait_for_results(page)
        texts = captions(page)
        assert texts[0].startswith("Handbags ·") and sum(t.startswith("Handbags") for t in texts) >= 8
        shot(page, "demo-camera")
    finally:
        browser.close()


def test_a_pasted_photo_is_searched(browser, page_url, catalog_items):
    item = first_of(catalog_items, "Casual Shoes")
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto(page_url)
        page.wait_for_selector("#photo")
        png = base64.b64encode(_png(item.path)).decode()
        page.evaluate("""async (data) => {
            const blob = await (await fetch('data:image/png;base64,' + data)).blob();
            await navigator.clipboard.write([new ClipboardItem({'image/png': blob})]); }""", png)
        page.locator("#photo button[aria-label='Paste from clipboard']").click()
        wait_for_results(page)
        assert captions(page)[0].startswith("Casual Shoes · 100% match")
    finally:
        context.close()


def _png(path) -> bytes:
    import io

    out = io.BytesIO()
    Image.open(path).convert("RGB").save(out, format="PNG")
    return out.getvalue()
