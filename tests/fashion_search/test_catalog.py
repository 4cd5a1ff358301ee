"""The three catalogue layouts give stable ids, categories and labels."""

import pytest
from PIL import Image

from fashion_search.catalog import (
    open_catalog,
    read_csv_catalog,
    read_deepfashion_catalog,
    read_folder_catalog,
)
from fashion_search.errors import CatalogError

pytestmark = pytest.mark.unit


def photo(path, size=(40, 30), color=(255, 0, 0)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def test_folder_catalog_reads_categories_and_splits(tmp_path):
    photo(tmp_path / "train" / "dress" / "a.jpg")
    photo(tmp_path / "train" / "hat" / "b.jpg")
    photo(tmp_path / "test" / "hat" / "c.png")
    (tmp_path / "test" / "hat" / "notes.txt").write_text("not a photo")
    items = read_folder_catalog(tmp_path)
    assert [(i.id, i.category, i.split) for i in items] == [
        ("test/hat/c", "hat", "test"), ("train/dress/a", "dress", "train"),
        ("train/hat/b", "hat", "train")]


def test_folder_catalog_without_splits(tmp_path):
    photo(tmp_path / "shirt" / "x.jpg")
    (item,) = read_folder_catalog(tmp_path)
    assert (item.id, item.category, item.split) == ("shirt/x", "shirt", None)


def test_empty_folder_says_what_layout_it_expected(tmp_path):
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CatalogError, match="one sub-folder per category"):
        read_folder_catalog(tmp_path)


def test_csv_catalog_takes_ids_and_labels_from_rows(tmp_path):
    photo(tmp_path / "images" / "7.jpg")
    photo(tmp_path / "images" / "9.jpg")
    (tmp_path / "styles.csv").write_text(
        "id,gender,articleType,baseColour\n7,Women,Skirts,White\n8,Men,Shirts,Blue\n"
        "9,Men,Tshirts,Black\n")
    items = read_csv_catalog(tmp_path / "styles.csv")
    assert [(i.id, i.category) for i in items] == [("7", "Skirts"), ("9", "Tshirts")]
    assert items[0].labels == {"gender": "Women", "baseColour": "White"}


def test_csv_rows_with_unquoted_commas_in_the_last_column_keep_them(tmp_path, caplog):
    photo(tmp_path / "images" / "7.jpg")
    photo(tmp_path / "images" / "9.jpg")
    (tmp_path / "styles.csv").write_text(
        "id,articleType,productDisplayName\n7,Skirts,Red, short, pleated skirt\n"
        "9,Tshirts\n,Shirts,no id and no photo\n")
    items = read_csv_catalog(tmp_path / "styles.csv")
    assert [(i.id, i.category) for i in items] == [("7", "Skirts"), ("9", "Tshirts")]
    assert items[0].labels == {"productDisplayName": "Red, short, pleated skirt"}
    assert items[1].labels == {"productDisplayName": ""}
    assert "1 rows have more fields than the header" in caplog.text
    assert "1 rows name photos that are not in" in caplog.text


def test_a_csv_that_is_not_utf8_says_how_to_save_it(tmp_path):
    photo(tmp_path / "images" / "7.jpg")
    rows = "".join(f"{i},Skirts\n" for i in range(3000))  # past the decoder's first chunk
    (tmp_path / "styles.csv").write_bytes(
        f"id,articleType\n{rows}7,Jupes plissées\n".encode("latin-1"))
    with pytest.raises(CatalogError, match=r"styles\.csv: not UTF-8 text \(line 3002\); save it"):
        read_csv_catalog(tmp_path / "styles.csv")


def test_csv_category_column_can_be_chosen(tmp_path):
    photo(tmp_path / "images" / "7.jpg")
    (tmp_path / "styles.csv").write_text("id,subCategory,articleType\n7,Bottomwear,Skirts\n")
    (item,) = open_catalog(tmp_path, category_column="subCategory")
    assert item.category == "Bottomwear"
    with pytest.raises(CatalogError, match="column 'colour' not in the CSV"):
        open_catalog(tmp_path, category_column="colour")


def test_real_product_csv(products_dir):
    items = open_catalog(products_dir)
    assert len(items) > 9000
    assert len({i.id for i in items}) == len(items)
    assert {"Tshirts", "Shirts", "Watches"} <= {i.category for i in items}


def write_deepfashion(root):
    photo(root / "img" / "Blouse_A" / "img_1.jpg", size=(100, 80), color=(0, 0, 255))
    photo(root / "img" / "Shorts_B" / "img_2.jpg", size=(100, 80))
    anno, evals = root / "Anno", root / "Eval"
    anno.mkdir()
    evals.mkdir()
    (anno / "list_category_cloth.txt").write_text(
        "3\ncategory_name  category_type\nBlouse  1\nShorts  2\nDress  3\n")
    (anno / "list_category_img.txt").write_text(
        "2\nimage_name  category_label\nimg/Blouse_A/img_1.jpg  1\nimg/Shorts_B/img_2.jpg  2\n")
    (anno / "list_bbox.txt").write_text(
        "2\nimage_name  x_1  y_1  x_2  y_2\nimg/Blouse_A/img_1.jpg  10 20 60 70\n"
        "img/Shorts_B/img_2.jpg  0 0 100 80\n")
    (evals / "list_eval_partition.txt").write_text(
        "2\nimage_name  evaluation_status\nimg/Blouse_A/img_1.jpg  train\n"
        "img/Shorts_B/img_2.jpg  test\n")


def test_deepfashion_layout_crops_to_the_box(tmp_path):
    import io

    write_deepfashion(tmp_path)
    items = open_catalog(tmp_path)
    assert items == read_deepfashion_catalog(tmp_path)
    blouse, shorts = items
    assert (blouse.id, blouse.category, blouse.split, blouse.bbox) == (
        "img/Blouse_A/img_1", "Blouse", "train", (10, 20, 60, 70))
    assert (shorts.category, shorts.split) == ("Shorts", "test")
    assert Image.open(io.BytesIO(blouse.read_bytes())).size == (50, 50)


@pytest.mark.parametrize("box", [(30, 20, 10, 70), (0, 0, 100, 100), (-1, 0, 10, 10)])
def test_a_box_not_inside_its_photo_is_refused_by_name(tmp_path, box):
    from fashion_search.catalog import CatalogItem

    item = CatalogItem("a", photo(tmp_path / "a.jpg", size=(80, 90)), "Blouse", bbox=box)
    with pytest.raises(CatalogError, match=r"a\.jpg: its box .* is not inside the 80x90 photo"):
        item.read_bytes()


def test_missing_catalogue_is_named(tmp_path):
    with pytest.raises(CatalogError, match="no such catalogue"):
        open_catalog(tmp_path / "nope")


def test_the_hash_split_is_stable_and_keeps_a_tenth_each_for_choosing_and_reporting():
    from fashion_search.catalog import hash_split

    ids = [f"item-{n}" for n in range(20_000)]
    splits = [hash_split(i) for i in ids]
    assert splits == [hash_split(i) for i in ids]
    for name in ("validation", "test"):
        assert 0.09 < splits.count(name) / len(ids) < 0.11


def test_photo_paths_finds_every_photo_format_and_skips_hidden_and_other_files(tmp_path):
    from fashion_search.catalog import photo_paths

    for name in ("a/1.jpg", "a/2.PNG", "b/3.webp", "b/.4.jpg"):
        photo(tmp_path / name)
    (tmp_path / "b" / "notes.txt").write_text("not a photo")
    assert [p.relative_to(tmp_path).as_posix() for p in photo_paths(tmp_path)] == [
        "a/1.jpg", "a/2.PNG", "b/3.webp"]
    assert len(photo_paths(tmp_path, 2)) == 2
