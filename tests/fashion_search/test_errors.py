"""Messages quote what people typed, but never echo a huge value whole."""

import pytest

from fashion_search.errors import clipped, shown

pytestmark = pytest.mark.unit


def test_a_short_value_is_quoted_whole():
    assert shown("Dresses") == "'Dresses'"
    assert clipped("Dresses") == "Dresses"


def test_a_long_value_is_clipped_and_says_how_long_it_was():
    assert shown("x" * 100_000, limit=5) == "'xxxxx'... (100,000 characters)"
    assert clipped("y" * 90, limit=3) == "yyy... (90 characters)"
