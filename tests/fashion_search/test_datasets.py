"""The default catalogue download, against a local HTTP server only."""

import functools
import http.server
import threading
import zipfile

import pytest

from fashion_search.catalog import open_catalog
from fashion_search.datasets import default_catalog
from fashion_search.errors import DownloadError
from tests.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served_zip(tmp_path_factory, clothing_dir):
    """A zip shaped like the public archive, built from a few real photos."""
    root = tmp_path_factory.mktemp("www")
    archive = root / "catalogue.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for split in ("train", "test"):
            for label in ("dress", "hat"):
                for photo in sorted((clothing_dir / split / label).glob("*.jpg"))[:3]:
                    bundle.write(photo, f"clothing-dataset-small-master/{split}/{label}/{photo.name}")
    (root / "not-a-zip.zip").write_text("<html>moved</html>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_unpacks_a_readable_catalogue_once(served_zip, tmp_path):
    path = default_catalog(tmp_path, f"{served_zip}/catalogue.zip", progress=False)
    items = open_catalog(path)
    assert len(items) == 12
    assert {i.category for i in items} == {"dress", "hat"}
    assert {i.split for i in items} == {"train", "test"}
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.unpacking"))
    again = default_catalog(tmp_path, "http://127.0.0.1:9/unreachable.zip", progress=False)
    assert again == path


def test_no_network_says_how_to_use_a_local_folder(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/catalogue.zip"
    with pytest.raises(DownloadError, match="--catalog /path"):
        default_catalog(tmp_path, url, timeout_s=5, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_download_that_is_not_a_zip_leaves_nothing_behind(served_zip, tmp_path):
    with pytest.raises(DownloadError, match="not a zip archive"):
        default_catalog(tmp_path, f"{served_zip}/not-a-zip.zip", progress=False)
    assert not (tmp_path / "clothing-dataset-small").exists()
    assert not list(tmp_path.glob("*.part"))
