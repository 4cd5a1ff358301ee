"""Filters become one expression of checked, quoted values; nothing else gets in."""

import pytest

from fashion_search.errors import UnknownLabel
from fashion_search.vectordb.filters import expression, label_fields, parse_where, resolve_where

pytestmark = pytest.mark.unit

COLUMNS = label_fields(["gender", "baseColour", "base colour", "year"])
VALUES = {COLUMNS["gender"]: ["Men", "Women"], COLUMNS["baseColour"]: ["Black", "Navy Blue"],
          COLUMNS["year"]: ["2011", "2012"]}


def test_columns_become_valid_unique_field_names():
    assert COLUMNS["gender"] == "label_gender"
    assert COLUMNS["baseColour"] == "label_baseColour"
    assert COLUMNS["base colour"] == "label_base_colour"
    assert len(set(label_fields(["a b", "a_b", "a-b"]).values())) == 3


def test_repeated_columns_mean_either_value():
    assert parse_where(["gender=Women", "baseColour=Black", "baseColour = Navy Blue"]) == {
        "gender": ["Women"], "baseColour": ["Black", "Navy Blue"]}
    with pytest.raises(UnknownLabel, match="write COLUMN=VALUE"):
        parse_where(["gender"])


def test_values_are_matched_to_the_catalogues_spelling_then_quoted():
    checked = resolve_where({"Gender": ["women"], "baseColour": ["black", "navy blue"]},
                            COLUMNS, VALUES)
    assert expression("Tshirts", checked) == (
        'category == "Tshirts" and label_baseColour in ["Black", "Navy Blue"] '
        'and label_gender == "Women"')


def test_an_unknown_column_or_value_lists_what_exists():
    with pytest.raises(UnknownLabel, match="unknown label 'colour'; choose one of: "):
        resolve_where({"colour": ["Black"]}, COLUMNS, VALUES)
    with pytest.raises(UnknownLabel, match="unknown gender 'Kids'; choose one of: Men, Women"):
        resolve_where({"gender": ["Kids"]}, COLUMNS, VALUES)


def test_a_quote_in_a_value_stays_inside_the_string():
    assert expression('a" or id != "') == 'category == "a\\" or id != \\""'


def test_a_catalogue_with_too_many_columns_keeps_the_first_as_fields():
    from fashion_search.vectordb.filters import MAX_LABEL_FIELDS, catalogue_columns

    wide = [{f"c{n:03d}": "x" for n in range(100)}, {"extra": "y"}]
    columns = catalogue_columns(wide)
    assert len(columns) == MAX_LABEL_FIELDS and "c000" in columns and "extra" not in columns
