"""What the page may serve, and which photos it offers as examples."""

from dataclasses import replace
from pathlib import Path

import pytest
from gradio.route_utils import API_PREFIX
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from fashion_search.config import Settings
from fashion_search.demo.launch import CataloguePhotos, PhotoRoute, example_photos, image_type

pytestmark = pytest.mark.unit


def photo(path: Path, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "red").save(path, format=fmt)
    return path


def test_exactly_the_recorded_photos_are_served_not_their_neighbours(tmp_path):
    images = tmp_path / "catalog" / "images"
    listed = [photo(images / name) for name in ("1.jpg", "2.jpg")]
    unlisted = photo(images / "3.jpg")  # in the folder, not in the catalogue
    photos = CataloguePhotos(listed)
    later = photo(images / "4.jpg")  # added after the page started
    (images / "page.html").write_text("<script>alert(1)</script>")
    assert len(photos) == 2
    assert listed[0] in photos and str(listed[1]) in photos
    assert str(images / "notes" / ".." / "1.jpg") in photos  # the same path, spelled longer
    for other in (unlisted, later, images / "page.html", images, tmp_path / "catalog", "/etc/passwd"):
        assert other not in photos


def test_a_photo_is_typed_by_its_bytes_never_by_its_name(tmp_path):
    assert image_type(photo(tmp_path / "a.jpg")) == "image/jpeg"
    assert image_type(photo(tmp_path / "b.jpg", "PNG")) == "image/png"
    assert image_type(photo(tmp_path / "c.html")) == "image/jpeg"
    (tmp_path / "d.jpg").write_text("<html><script>alert(1)</script></html>")
    (tmp_path / "e.jpg").write_bytes(b"")
    assert image_type(tmp_path / "d.jpg") is None and image_type(tmp_path / "e.jpg") is None
    assert image_type(tmp_path / "missing.jpg") is None and image_type(tmp_path) is None


@pytest.fixture
def served(tmp_path):
    """A server with the photo route ahead of a stand-in for Gradio's file route."""
    images = tmp_path / "images"
    listed = [photo(images / "1.jpg"), photo(images / "2.html"), photo(images / "3.jpg")]

    def gradio(request):
        return PlainTextResponse("Gradio's route", status_code=403)

    app = Starlette(routes=[PhotoRoute(CataloguePhotos(listed)),
                            Route(f"{API_PREFIX}/file={{path:path}}", gradio)])
    with TestClient(app) as client:
        yield images, lambda path: client.get(f"{API_PREFIX}/file={path}")


def test_a_catalogue_photo_is_served_inline_as_the_image_it_is(served):
    images, fetch = served
    answer = fetch(images / "1.jpg")
    assert answer.status_code == 200 and answer.content == (images / "1.jpg").read_bytes()
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"] == "inline"
    assert fetch(images / "2.html").headers["content-type"] == "image/jpeg"  # not text/html


def test_a_file_added_to_a_catalogue_folder_later_goes_to_gradios_route(served):
    images, fetch = served
    (images / "later.html").write_text("<script>alert(1)</script>")
    photo(images / "later.jpg")
    for name in ("later.html", "later.jpg"):
        answer = fetch(images / name)
        assert (answer.status_code, answer.text) == (403, "Gradio's route")


def test_a_recorded_photo_replaced_by_a_page_is_not_served(served):
    images, fetch = served
    (images / "3.jpg").write_text("<html><script>alert(1)</script></html>")
    answer = fetch(images / "3.jpg")
    assert answer.status_code == 404 and "html" not in answer.headers.get("content-type", "")
    (images / "1.jpg").unlink()
    assert fetch(images / "1.jpg").status_code == 404


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
