"""Odd and broken catalogue photos: correct embeddings or named skips, never a lost run."""


import numpy as np
import pytest
from PIL import Image

from fashion_search.catalog import open_catalog
from fashion_search.checkpoint import load_model
from fashion_search.export.parity import cosine_rows, torch_embed
from fashion_search.preprocessing import preprocess
from fashion_search.vectordb.lifecycle import rebuild
from fashion_search.vectordb.store import CatalogStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def odd_catalog(tmp_path_factory, products_dir):
    root = tmp_path_factory.mktemp("odd_catalog")
    real = sorted((products_dir / "images").glob("*.jpg"))[:6]
    shirts = root / "shirts"
    shirts.mkdir()
    for path in real[:3]:
        (shirts / path.name).write_bytes(path.read_bytes())
    odd = root / "odd"
    odd.mkdir()
    photo = Image.open(real[3]).convert("RGB")
    (odd / "empty.jpg").write_bytes(b"")
    (odd / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    data = real[4].read_bytes()
    (odd / "truncated.jpg").write_bytes(data[: len(data) // 3])
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    rgba.save(odd / "alpha.png")
    photo.convert("CMYK").save(odd / "cmyk.jpg", quality=95)
    gray16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(gray16).save(odd / "sixteen_bit.png")
    Image.new("RGB", (1, 1000), (80, 80, 80)).save(odd / "strip.png")
    deep = odd.joinpath(*["d" * 200] * 3)  # an id of over 600 bytes, past Milvus's 512
    deep.mkdir(parents=True)
    (deep / "photo.jpg").write_bytes(real[5].read_bytes())
    return root


def test_bad_photos_are_skipped_by_name_and_the_rest_indexed(odd_catalog, client, tmp_path):
    items = open_catalog(odd_catalog)
    store = CatalogStore(str(tmp_path / "odd.db"))
    report = rebuild(items, client, store, batch_size=4, progress=False)
    skipped = dict(report.skipped)
    deep = "odd/" + "/".join(["d" * 200] * 3) + "/photo"
    assert set(skipped) == {"odd/empty", "odd/corrupt", "odd/truncated", "odd/strip", deep}
    assert "strip.png: the photo is 1x1000, more than 50 times" in skipped["odd/strip"]
    assert skipped[deep].endswith("its id is 612 bytes long, over 512; shorten it")
    assert "empty.jpg: the file is empty" in skipped["odd/empty"]
    assert "corrupt.jpg: the image is corrupt or truncated" in skipped["odd/corrupt"]
    assert "truncated.jpg" in skipped["odd/truncated"]
    assert "corrupt or truncated" in skipped["odd/truncated"]
    assert report.indexed == 6 == store.count()
    store.close()


@pytest.mark.parametrize("name", ["alpha.png", "cmyk.jpg", "sixteen_bit.png"])
def test_odd_formats_embed_like_the_local_model(odd_catalog, client, name):
    data = (odd_catalog / "odd" / name).read_bytes()
    loaded = load_model()
    local = torch_embed(loaded, preprocess(data, loaded.preprocessing)[None])
    served = client.embed([data])
    assert cosine_rows(served, local)[0] >= 0.999
