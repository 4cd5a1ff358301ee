"""The page's search step: a failure of a service behind it is shown and logged, catalogue
text in its message stays text, and a photo that cannot be shown is left out."""

import logging

import pytest
from markdown_it import MarkdownIt

from fashion_search.demo.app import Page
from fashion_search.demo.cards import literal
from fashion_search.demo.query import Query
from fashion_search.errors import ImageError, MilvusFailure
from fashion_search.serving.search import Results
from fashion_search.vectordb.schema import Hit

pytestmark = pytest.mark.unit


class FailingSearch:
    """Stands in for VisualSearch (the page's handling is under test)."""

    def __init__(self, error: Exception):
        self.error = error

    def find(self, *args, **kwargs):
        raise self.error


def run_page(tmp_path, error):
    photo = tmp_path / "shirt.jpg"
    photo.write_bytes(b"photo bytes")
    page = Page(FailingSearch(error), columns=[])
    return page.run(Query.of(photo), None, 10, 0.02, [])


def test_a_milvus_failure_is_shown_to_the_visitor_and_logged_for_the_operator(tmp_path, caplog):
    failure = MilvusFailure("the Milvus catalogue at http://milvus:19530 failed (search: gone)")
    with caplog.at_level(logging.WARNING, logger="fashion_search.demo.app"):
        gallery, message, found, _ = run_page(tmp_path, failure)
    assert gallery == [] and found == []
    assert message == f"**Could not search:** {literal(failure)}"
    assert "search for shirt.jpg failed: the Milvus catalogue at" in caplog.text


def test_a_visitors_bad_photo_is_shown_but_not_logged_as_a_fault(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="fashion_search.demo.app"):
        _, message, _, _ = run_page(tmp_path, ImageError("shirt.jpg: not a readable image"))
    assert message == "**Could not search:** " + literal("shirt.jpg: not a readable image")
    assert caplog.text == ""


class FoundSearch:
    """Stands in for VisualSearch: the same results for every photo."""

    def __init__(self, results: Results):
        self.results = results

    def find(self, *args, **kwargs):
        return self.results


HOSTILE = "<img src=http://127.0.0.1:7998/category.png>"


def test_catalogue_and_upload_names_in_the_message_render_as_text(tmp_path):
    photo = tmp_path / "[x](javascript:alert(12)).jpg"
    photo.write_bytes(b"photo bytes")
    hit = Hit("<u>7</u>", 0.9, HOSTILE, "/c/1.jpg", {"<b>Fit</b>": "<script>x</script>"})
    page = Page(FoundSearch(Results([hit], [(HOSTILE, 0.8)], HOSTILE)), ["<b>Fit</b>"])
    _, message, _, _ = page.run(Query.of(photo), HOSTILE, 10, 0.0, [["<script>x</script>"]])
    rendered = MarkdownIt("commonmark").render(message)
    assert rendered == (
        "<p>1 similar items in <strong>&lt;img src=http://127.0.0.1:7998/category.png&gt;"
        "</strong> with &lt;b&gt;Fit&lt;/b&gt;: &lt;script&gt;x&lt;/script&gt; for "
        "<em>[x](javascript:alert(12)).jpg</em>; shape only. Looks like: "
        "&lt;img src=http://127.0.0.1:7998/category.png&gt; (80%)</p>\n")


def test_a_result_whose_photo_cannot_be_shown_is_left_out_of_cards_and_clicks(tmp_path):
    photo = tmp_path / "shirt.jpg"
    photo.write_bytes(b"photo bytes")
    hits = [Hit(str(n), 0.9, "Tshirts", f"/c/{n}.jpg") for n in range(3)]
    page = Page(FoundSearch(Results(hits)), [],
                shown=lambda path: None if path == "/c/1.jpg" else f"/cache{path}")
    gallery, message, found, _ = page.run(Query.of(photo), None, 10, 0.0, [])
    assert [path for path, _ in gallery] == ["/cache/c/0.jpg", "/cache/c/2.jpg"]
    assert found == [("0", "/c/0.jpg"), ("2", "/c/2.jpg")]  # a click's index finds its item
