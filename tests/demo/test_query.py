"""The page's search state: boxes drawn by two clicks, crops, and the way back."""

import io
from pathlib import Path

import pytest
from PIL import Image

from fashion_search.demo.query import HISTORY, MIN_BOX, Query, push
from fashion_search.errors import ImageError
from fashion_search.garments import crop_box as crop

pytestmark = pytest.mark.unit


def photo(path, size=(200, 100), exif_orientation=None) -> str:
    image = Image.new("RGB", size, "white")
    image.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))  # left half red
    exif = Image.Exif()
    if exif_orientation:
        exif[0x0112] = exif_orientation
    image.save(path, format="JPEG", exif=exif.tobytes())
    return str(path)


def test_two_clicks_make_a_box_in_either_order(tmp_path):
    query = Query.of(photo(tmp_path / "a.jpg"))
    first = query.click(150, 80)
    assert first.corner == (150, 80) and first.box is None
    assert first.click(20, 10).box == (20, 10, 151, 81)  # both clicked pixels are inside
    assert first.click(20, 10).corner is None


def test_a_box_too_small_to_be_a_garment_is_refused(tmp_path):
    query = Query.of(photo(tmp_path / "a.jpg")).click(10, 10)
    with pytest.raises(ImageError, match=f"at least {MIN_BOX} pixels apart"):
        query.click(12, 40)


def test_the_crop_holds_only_the_box(tmp_path):
    query = Query.of(photo(tmp_path / "a.jpg")).click(0, 0).click(89, 99)
    out = Image.open(io.BytesIO(query.read()))
    assert out.size == (90, 100)
    red, green, blue = out.convert("RGB").getpixel((45, 50))
    assert red > 200 and green < 60 and blue < 60


def test_a_box_is_taken_on_the_upright_photo(tmp_path):
    # stored 200x100 and turned a quarter by EXIF: the browser shows it 100x200
    path = photo(tmp_path / "turned.jpg", exif_orientation=6)
    cropped = Image.open(io.BytesIO(crop(Path(path).read_bytes(), (0, 0, 100, 150))))
    assert cropped.size == (100, 150)


def test_a_box_outside_the_photo_is_refused(tmp_path):
    path = photo(tmp_path / "a.jpg")
    with pytest.raises(ImageError, match="outside the 200x100 photo"):
        crop(Path(path).read_bytes(), (500, 500, 600, 600), "a.jpg")


def test_a_whole_photo_is_sent_as_it_was(tmp_path):
    path = photo(tmp_path / "a.jpg")
    assert Query.of(path).read() == Path(path).read_bytes()
    assert Query.of(path).click(0, 0).click(50, 50).whole().read() == Path(path).read_bytes()


def test_a_file_over_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(b"\0" * 3 * 2**20)
    with pytest.raises(ImageError, match="big.jpg: the file is 3 MB; upload a photo under 2 MB"):
        Query.of(path).read(max_bytes=2 * 2**20)


def test_a_vanished_upload_asks_for_it_again(tmp_path):
    with pytest.raises(ImageError, match="upload it again"):
        Query.of(tmp_path / "gone.jpg").read()


def test_back_never_returns_to_a_half_drawn_box(tmp_path):
    boxed = Query.of(photo(tmp_path / "a.jpg")).click(0, 0).click(50, 50)
    history = push([], boxed.click(70, 70))
    assert history[-1].corner is None and history[-1].box == boxed.box


def test_history_keeps_the_latest_searches():
    history = []
    for n in range(HISTORY + 5):
        history = push(history, Query.of(f"/p/{n}.jpg"))
    assert len(history) == HISTORY and history[-1].path == f"/p/{HISTORY + 4}.jpg"
    assert push(history, None) == history
