"""Pairs split by id with a seed: disjoint, complete and repeatable."""

import pytest

from fashion_search.errors import CatalogError
from fashion_search.training.pairs import read_pairs, split_pairs

pytestmark = pytest.mark.unit


def test_the_split_is_disjoint_complete_and_repeatable(street2shop_dir):
    pairs = read_pairs(street2shop_dir)
    assert len(pairs) == 2000
    train, unseen = split_pairs(pairs, 500, seed=0)
    assert (len(train), len(unseen)) == (1500, 500)
    assert not {p.id for p in train} & {p.id for p in unseen}
    again = split_pairs(list(reversed(pairs)), 500, seed=0)
    assert [p.id for p in again[1]] == [p.id for p in unseen]
    other = split_pairs(pairs, 500, seed=1)
    assert [p.id for p in other[1]] != [p.id for p in unseen]


def test_each_pair_names_a_street_photo_and_its_shop_photo(street2shop_dir):
    pair = read_pairs(street2shop_dir)[0]
    assert pair.query.parent.name == "person" and pair.product.parent.name == "product"
    assert pair.query.stem == pair.product.stem == pair.id


def test_a_folder_without_pairs_csv_says_what_it_needs(tmp_path):
    with pytest.raises(CatalogError, match="person,product"):
        read_pairs(tmp_path)


def test_pairs_naming_missing_photos_are_refused(tmp_path):
    (tmp_path / "pairs.csv").write_text("person,product\nperson/1.jpg,product/1.jpg\n")
    with pytest.raises(CatalogError, match="do not exist"):
        read_pairs(tmp_path)


def test_a_row_without_its_product_photo_is_refused_by_line(tmp_path):
    (tmp_path / "pairs.csv").write_text("person,product\nperson/1.jpg,product/1.jpg\nperson/2.jpg\n")
    with pytest.raises(CatalogError, match=r"pairs\.csv, line 3: a pair needs both"):
        read_pairs(tmp_path)
