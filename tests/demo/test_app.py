"""The page's search step: a failure of a service behind it is shown and logged."""

import logging

import pytest

from fashion_search.demo.app import Page
from fashion_search.demo.query import Query
from fashion_search.errors import ImageError, MilvusFailure

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
    assert message == f"**Could not search:** {failure}"
    assert "search for shirt.jpg failed: the Milvus catalogue at" in caplog.text


def test_a_visitors_bad_photo_is_shown_but_not_logged_as_a_fault(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="fashion_search.demo.app"):
        _, message, _, _ = run_page(tmp_path, ImageError("shirt.jpg: not a readable image"))
    assert message == "**Could not search:** shirt.jpg: not a readable image"
    assert caplog.text == ""
