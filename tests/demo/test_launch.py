"""What the page may serve, and which photos it offers as examples."""

from dataclasses import replace

import pytest

from fashion_search.config import Settings
from fashion_search.demo.launch import example_photos, served_paths

pytestmark = pytest.mark.unit


def test_only_catalogue_photo_folders_are_served_and_other_files_there_are_blocked(tmp_path):
    images = tmp_path / "catalog" / "images"
    (images / "notes").mkdir(parents=True)
    photos = [images / name for name in ("1.jpg", "2.png", "4.jpg", "5.jpg")]
    for path in photos:
        path.write_bytes(b"x")
    (images / "secrets.csv").write_text("a,b")
    (images / "notes" / "todo.txt").write_text("x")
    (tmp_path / "catalog" / "styles.csv").write_text("id")
    (images / "3.jpg").write_bytes(b"x")  # a photo the catalogue does not list
    allowed, blocked = served_paths(photos)
    assert allowed == [str(images.resolve())]
    assert sorted(blocked) == sorted(str((images / name).resolve())
                                     for name in ("secrets.csv", "notes/todo.txt", "3.jpg"))


def test_a_catalogue_that_is_part_of_a_folder_is_served_photo_by_photo(tmp_path):
    for n in range(10):
        (tmp_path / f"{n}.jpg").write_bytes(b"x")
    allowed, blocked = served_paths([tmp_path / "1.jpg", tmp_path / "2.jpg"])
    assert allowed == [str((tmp_path / "1.jpg").resolve()), str((tmp_path / "2.jpg").resolve())]
    assert blocked == []


def test_examples_are_a_few_street_photos_then_catalogue_photos(tmp_path):
    street = tmp_path / "street"
    street.mkdir()
    for n in range(6):
        (street / f"{n}.jpg").write_bytes(b"x")
    (street / "readme.txt").write_text("x")
    settings = replace(Settings(), demo_examples=str(street))
    shown = example_photos(settings, ["/c/1.jpg", "/c/2.jpg"], count=3)
    assert shown == [str(street / f"{n}.jpg") for n in range(3)] + ["/c/1.jpg", "/c/2.jpg"]


def test_without_street_photos_the_examples_are_catalogue_photos(tmp_path):
    settings = replace(Settings(), demo_examples="", data_dir=tmp_path)
    assert example_photos(settings, ["/c/1.jpg"]) == ["/c/1.jpg"]
