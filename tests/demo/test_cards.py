"""What a result card says, which labels the page offers as filters, and catalogue text
kept as text in the page's markdown."""

import html
import re

import pytest
from markdown_it import MarkdownIt

from fashion_search.demo.cards import caption, filter_columns, literal, title_column, where
from fashion_search.vectordb.schema import SAME_ITEM, Hit

pytestmark = pytest.mark.unit

LABELS = {"gender": ["Men", "Women"], "productDisplayName": [f"item {n}" for n in range(500)],
          "season": ["Summer"], "year": [str(y) for y in range(2000, 2030)]}


def test_filters_are_columns_with_a_few_values():
    assert list(filter_columns(LABELS)) == ["gender", "year"]


def test_the_title_is_the_name_column_with_many_values():
    assert title_column(LABELS) == "productDisplayName"
    assert title_column({"gender": ["Men", "Women"]}) is None


def test_a_card_shows_category_calibrated_match_name_and_labels():
    hit = Hit("1", 0.87, "Tshirts", "/a.jpg", {"gender": "Women", "year": "2012",
                                               "productDisplayName": "Blue tee"}, match=0.923)
    assert caption(hit, ["gender", "year"], "productDisplayName") == \
        "Tshirts · 92% match\nBlue tee\nWomen · 2012"


def test_a_street_photo_card_says_the_chance_it_is_the_same_item():
    hit = Hit("1", 0.61, "Tops", "/a.jpg", {}, match=0.624, reading=SAME_ITEM)
    assert caption(hit, []) == "Tops · 62% same item"


def test_a_card_without_calibration_shows_the_raw_similarity():
    hit = Hit("1", 0.8712, "Tshirts", "/a.jpg", {})
    assert caption(hit, ["gender"]) == "Tshirts · similarity 0.871"


def test_empty_dropdowns_are_no_filter():
    assert where(["gender", "year"], [["Women", "Men"], []]) == {"gender": ["Women", "Men"]}
    assert where(["gender"], [None]) == {}


HOSTILE = [
    "<img src=http://127.0.0.1:7998/category.png>",
    "<b>Fit</b>",
    "<script>window.hostile = 1</script>",
    "[x](javascript:alert(12)).jpg",
    "**bold** _em_ `code` ~~gone~~ $$x^2$$",
    "# a heading\n- a list\n\n    indented code",
    "1. first | a | table |",
    "www.example.com, someone@example.com and http://127.0.0.1:7998/x",
    "a &amp; b &lt;c&gt; \\ back\\slash",
    "![photo](http://127.0.0.1:7998/p.png) <http://127.0.0.1:7998/auto>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_catalogue_text_renders_as_that_text_and_no_markup(text):
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(literal(text))
    body = rendered.strip().removeprefix("<p>").removesuffix("</p>")
    assert "<" not in body  # not one tag: no image, link, emphasis, code or heading
    assert html.unescape(body) == re.sub(r"\s+", " ", text)


def test_plain_text_stays_as_it_reads():
    assert literal("Tshirts") == "Tshirts" and literal("Navy  Blue\n") == "Navy Blue"
