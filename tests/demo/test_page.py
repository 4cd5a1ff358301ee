"""The demo page driven in a real headless Chromium: search, filters, examples, results, back."""

from __future__ import annotations

import pytest
import requests

from tests.demo.conftest import ARTIFACTS, captions, choose, shot, upload, wait_for_results

pytestmark = pytest.mark.browser


def set_number(page, elem_id: str, value: float) -> None:
    number = page.locator(f"#{elem_id} input[type=number]")
    number.fill(str(value))
    number.press("Enter")


def first_of(items, category: str):
    return next(i for i in items if i.category == category)


def test_upload_filter_and_see_k_results_of_that_category(page, catalog_items):
    query = first_of(catalog_items, "Tshirts")
    set_number(page, "k", 5)
    choose(page, "category", "Tshirts")
    upload(page, query.path)
    message = wait_for_results(page, "5 similar items in Tshirts")
    texts = captions(page)
    assert len(texts) == 5 and all(t.startswith("Tshirts ·") for t in texts), texts
    assert texts[0].splitlines()[0].endswith("· 100% match")  # the query is in the catalogue
    assert query.labels["gender"] in texts[0] and query.labels["baseColour"] in texts[0]
    assert f"for {query.path.name}" in message
    shot(page, "demo-desktop")


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xd8\xff\xe0 definitely not a whole jpeg", "corrupt or truncated"),
    (b"", "the file is empty"),
])
def test_unreadable_upload_gets_a_message_not_a_traceback(page, tmp_path, content, expected):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(content)
    upload(page, broken)
    page.locator("#status").get_by_text("Could not search").wait_for(timeout=60_000)
    text = page.locator("#status").inner_text()
    assert "broken.jpg" in text and expected in text
    assert "Traceback" not in page.content()
    assert page.locator("#results img").count() == 0


def test_upload_over_the_size_limit_is_refused_with_the_limit_named(page, tmp_path, catalog_items):
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(catalog_items[0].path.read_bytes() + b"\0" * (51 * 2**20))
    upload(page, huge)
    toast = page.get_by_text("exceed the maximum allowed size")
    toast.wait_for(timeout=30_000)
    assert "maximum allowed size of 50.0 Mb" in toast.inner_text()
    assert '"huge.jpg"' in toast.inner_text()
    assert page.locator("#results img").count() == 0


def test_examples_are_thumbnails_and_a_click_searches_that_photo(page, examples, catalog_items):
    thumbs = page.locator("#examples img")
    thumbs.nth(len(examples) - 1).wait_for(timeout=30_000)
    assert thumbs.count() == len(examples)
    page.wait_for_function("""() => [...document.querySelectorAll('#examples img')]
        .every(i => i.complete && i.naturalWidth > 0)""", timeout=30_000)  # pictures, not names
    page.locator("#examples .thumbnail-item").nth(2).click()  # the first catalogue example
    wait_for_results(page, f"for {catalog_items[0].path.name}")
    assert captions(page)[0].startswith(f"{catalog_items[0].category} · 100% match")
    page.locator("#examples .thumbnail-item").nth(0).click()  # a street photo, not catalogue
    street = examples[0].rsplit("/", 1)[-1]
    wait_for_results(page, f"for {street}")
    assert page.locator("#photo img").first.evaluate("i => i.naturalWidth > 0")
    assert page.locator("#back").is_enabled()


def test_a_result_click_searches_from_it_and_back_returns(page, catalog_items):
    query = first_of(catalog_items, "Watches")
    upload(page, query.path)
    first = wait_for_results(page)
    back = page.locator("#back")
    assert back.is_disabled()
    picked = captions(page)[3]
    page.locator("#results .thumbnail-item").nth(3).click()
    page.locator("#status").get_by_text("similar items").filter(
        has_not_text=query.path.name).wait_for(timeout=60_000)
    second = wait_for_results(page)
    assert second != first
    assert captions(page)[0].splitlines()[0] == picked.splitlines()[0].rsplit(" · ", 1)[0] \
        + " · 100% match"
    assert back.is_enabled()
    back.click()
    page.locator("#status").get_by_text(f"for {query.path.name}").wait_for(timeout=60_000)
    assert wait_for_results(page) == first
    assert back.is_disabled()


def test_label_filters_combine_with_the_category(page, catalog_items):
    query = first_of(catalog_items, "Tshirts")
    upload(page, query.path)
    wait_for_results(page)
    choose(page, "category", "Tshirts")
    choose(page, "filter-gender", "Women")
    message = wait_for_results(page, "gender: Women")
    texts = captions(page)
    assert texts and all(t.startswith("Tshirts ·") and "Women" in t for t in texts), texts
    assert "in Tshirts" in message
    choose(page, "filter-gender", "Men")  # a second value of the same column: either one
    wait_for_results(page, "gender: Women, Men")
    assert {"Men", "Women"} <= {g for t in captions(page) for g in ("Men", "Women") if g in t}


def test_a_filter_nothing_matches_says_so(page, catalog_items):
    upload(page, first_of(catalog_items, "Watches").path)
    wait_for_results(page)
    choose(page, "category", "Watches")
    choose(page, "filter-baseColour", "Navy Blue")  # no navy blue watches among these items
    page.locator("#status").get_by_text("No items in Watches").wait_for(timeout=60_000)
    assert "Remove a filter" in page.locator("#status").inner_text()
    assert page.locator("#results img").count() == 0


def test_auto_category_searches_the_guessed_one(page, catalog_items):
    query = first_of(catalog_items, "Watches")
    choose(page, "category", "Auto (what the photo most likely shows)")
    upload(page, query.path)
    message = wait_for_results(page, "(guessed)")
    assert "in Watches (guessed)" in message
    assert all(t.startswith("Watches ·") for t in captions(page))


def test_the_colour_slider_reorders_results_by_colour(page, catalog_items):
    query = first_of(catalog_items, "Tshirts")
    upload(page, query.path)
    wait_for_results(page)
    colour = query.labels["baseColour"]

    def same_colour(texts):
        return sum(colour in t.splitlines()[-1].split(" · ") for t in texts)

    set_number(page, "colour", 0)
    wait_for_results(page, "; shape only.")
    shape_only = captions(page)
    set_number(page, "colour", 0.3)
    wait_for_results(page, "; colour weight 0.3.")
    texts = captions(page)
    assert texts != shape_only
    assert same_colour(texts) > same_colour(shape_only)  # 9 against 4 of 12 when written


def test_phone_width_shows_photo_and_results_without_sideways_scrolling(browser, page_url,
                                                                        catalog_items):
    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                             is_mobile=True, has_touch=True)
    try:
        phone.goto(page_url)
        phone.wait_for_selector("#photo")
        upload(phone, first_of(catalog_items, "Tshirts").path)
        wait_for_results(phone)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        box = phone.locator("#results").bounding_box()
        assert box["width"] <= 390 and box["x"] >= 0
        assert len(captions(phone)) == 12
        shot(phone, "demo-phone")
        phone.screenshot(path=str(ARTIFACTS / "demo-phone-top.png"),  # the top of the page
                         clip={"x": 0, "y": 0, "width": 390, "height": 1700}, full_page=True)
    finally:
        phone.close()


def test_the_page_serves_catalogue_photos_and_no_other_file(page_url, catalog_items, products_dir,
                                                            settings):
    def fetch(path) -> int:
        return requests.get(f"{page_url}/gradio_api/file={path}", timeout=30).status_code

    assert fetch(catalog_items[0].path) == 200
    assert fetch(products_dir / "styles.csv") == 403
    assert fetch("/etc/passwd") == 403
    assert fetch(settings.resolved_milvus_uri) == 403
    assert fetch(__file__) == 403


def test_steps_taken_quickly_apply_in_order(page, catalog_items):
    query = first_of(catalog_items, "Handbags")
    upload(page, query.path)
    wait_for_results(page)
    page.locator("#results .thumbnail-item").nth(2).click()
    set_number(page, "colour", 0.25)  # while the click's search is still running
    message = wait_for_results(page, "; colour weight 0.25.")
    assert query.path.name not in message  # the slider re-ran the clicked item, not the upload
    assert page.locator("#back").is_enabled()
