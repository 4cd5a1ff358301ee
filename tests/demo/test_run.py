"""`demo` brings everything up once and reuses what it built the next time."""

import shutil
from dataclasses import replace

import pytest
import requests

from fashion_search.demo.run import demo
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def small_catalog(tmp_path, clothing_dir):
    root = tmp_path / "catalog"
    for label in ("hat", "shoes"):
        (root / label).mkdir(parents=True)
        for photo in sorted((clothing_dir / "test" / label).glob("*.jpg"))[:4]:
            (root / label / photo.name).write_bytes(photo.read_bytes())
    return root


def test_second_start_reuses_model_and_index(settings, triton, small_catalog, tmp_path, finder):
    own = replace(settings, home=tmp_path / "home", milvus_uri=str(tmp_path / "demo.db"))
    # a finder already trained: the demo exports it rather than training one
    (own.home / "garments").mkdir(parents=True)
    shutil.copy2(finder.checkpoint, own.home / "garments" / "finder.pt")
    (small_catalog / "hat" / "notes.txt").write_text("not a photo, beside the photos")
    first = demo(catalog=small_catalog, port=free_port(), settings=own)
    try:
        page = requests.get(first.url, timeout=30)
        assert page.status_code == 200 and "Fashion visual search" in page.text
        assert first.app.server_name == "127.0.0.1"  # not the network unless asked
        assert first.url.startswith("http://127.0.0.1:")
        photo = next((small_catalog / "hat").glob("*.jpg"))

        def fetch(path) -> requests.Response:
            return requests.get(f"{first.url}/gradio_api/file={path}", timeout=30)

        assert fetch(photo).status_code == 200
        assert fetch(photo).headers["content-type"] == "image/jpeg"
        assert fetch(small_catalog / "hat" / "notes.txt").status_code == 403
        (small_catalog / "hat" / "later.html").write_text("<script>alert(1)</script>")
        assert fetch(small_catalog / "hat" / "later.html").status_code == 403  # added after start
    finally:
        first.close()
    record = own.home / "index-config.json"
    indexed_at = record.stat().st_mtime_ns
    assert '"indexed": 8' in record.read_text()
    built = own.model_repository.stat().st_mtime_ns
    second = demo(catalog=small_catalog, port=free_port(), settings=own)
    second.close()
    assert record.stat().st_mtime_ns == indexed_at
    assert second.model.version == first.model.version and not second.model.exported
    assert own.model_repository.stat().st_mtime_ns == built
    assert (own.garment_repository / "garment_finder" / "1" / "model.onnx").is_file()
    assert triton.process.poll() is None  # a server it did not start is left running


def test_another_catalogue_replaces_the_one_shown(settings, triton, small_catalog, tmp_path,
                                                  clothing_dir):
    from fashion_search.vectordb.store import CatalogStore

    own = replace(settings, home=tmp_path / "home", milvus_uri=str(tmp_path / "demo.db"))
    other = tmp_path / "other" / "skirt"
    other.mkdir(parents=True)
    for photo in sorted((clothing_dir / "test" / "skirt").glob("*.jpg"))[:3]:
        (other / photo.name).write_bytes(photo.read_bytes())
    demo(catalog=small_catalog, port=free_port(), settings=own, garments=False).close()
    demo(catalog=other.parent, port=free_port(), settings=own, garments=False).close()
    store = CatalogStore(own.resolved_milvus_uri)
    try:
        assert store.categories() == ["skirt"] and store.count() == 3
    finally:
        store.close()
