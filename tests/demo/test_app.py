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


class Finder:
    """Stands in for the garment finder's client."""

    def __init__(self, found=None, error: Exception | None = None):
        self.found, self.error = found or [], error

    def find(self, data, name="photo"):
        if self.error:
            raise self.error
        return self.found


class SearchWithFinder(FailingSearch):
    def __init__(self, finder):
        super().__init__(ImageError("unused"))
        self.finder = finder


def test_a_new_photos_largest_garment_is_searched_in_its_box_with_a_margin(tmp_path):
    from fashion_search.garments import Garment

    photo = tmp_path / "street.jpg"
    photo.write_bytes(b"photo bytes")
    found = [Garment("trousers", (100, 200, 200, 400), 0.9, 0.2, (330, 499)),
             Garment("shoes", (100, 420, 200, 480), 0.8, 0.03, (330, 499))]
    query = Page(SearchWithFinder(Finder(found)), columns=[]).spot(Query.of(photo))
    assert query.garments == tuple(found) and query.garment == "trousers"
    assert query.box == (90, 180, 210, 420)
    picked = query.pick(1)
    assert picked.garment == "shoes" and picked.box == (90, 414, 210, 486)
    assert picked.whole().box is None and picked.whole().garments == tuple(found)


def test_without_a_finder_or_when_it_fails_the_photo_is_searched_whole(tmp_path, caplog):
    from fashion_search.errors import TritonFailure

    photo = tmp_path / "street.jpg"
    photo.write_bytes(b"photo bytes")
    assert Page(SearchWithFinder(None), columns=[]).spot(Query.of(photo)).box is None
    failing = Page(SearchWithFinder(Finder(error=TritonFailure("serves no garment finder"))),
                   columns=[])
    with caplog.at_level(logging.WARNING, logger="fashion_search.demo.app"):
        query = failing.spot(Query.of(photo))
    assert query.box is None and query.garments == ()
    assert "no garments found on street.jpg: serves no garment finder" in caplog.text
