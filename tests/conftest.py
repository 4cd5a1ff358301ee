"""Shared fixtures: real photos from ../shared/data, a real exported model,
a real tritonserver and a real Milvus Lite file, each built once per session."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from fashion_search.config import ENV_PREFIX, Settings

DATA = Settings().data_dir  # FASHION_SEARCH_DATA, as everything else reads it
PRODUCTS = DATA / "fashion-product-images"
CLOTHING = DATA / "clothing-dataset-small"
STREET2SHOP = DATA / "street2shop-dev"
STREET = DATA / "ccp-street"
CATALOG_SIZE = 300


# What a developer's shell may set that the tests keep: where the photos are.
KEPT_SETTINGS = {ENV_PREFIX + "DATA"}


@pytest.fixture(scope="session", autouse=True)
def own_settings():
    """A developer's own settings (a production Milvus URI, int8, a demo port) stay out of
    the tests, which would otherwise write to that Milvus or serve that graph."""
    inherited = {key: value for key, value in os.environ.items()
                 if key.startswith(ENV_PREFIX) and key not in KEPT_SETTINGS}
    for key in inherited:
        del os.environ[key]
    yield
    os.environ.update(inherited)


PHOTOS_OPTIONAL = "--photos-optional"
_photos_optional = False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(PHOTOS_OPTIONAL, action="store_true",
                     help="skip, rather than fail, the tests that read the shared photos when they "
                          "are missing (the fast loop on a machine without them)")


def pytest_configure(config: pytest.Config) -> None:
    global _photos_optional
    _photos_optional = config.getoption(PHOTOS_OPTIONAL)


def require(path: Path) -> Path:
    """The real photos a test reads; missing, the test fails (a skip would pass unseen),
    unless the run said the photos are optional."""
    if not path.exists():
        message = (f"real test photos not found at {path}; put the shared data set there "
                   "or set FASHION_SEARCH_DATA")
        if _photos_optional:
            pytest.skip(f"{message} ({PHOTOS_OPTIONAL})")
        pytest.fail(message, pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def products_dir() -> Path:
    return require(PRODUCTS)


@pytest.fixture(scope="session")
def clothing_dir() -> Path:
    return require(CLOTHING)


@pytest.fixture(scope="session")
def street2shop_dir() -> Path:
    return require(STREET2SHOP)


@pytest.fixture(scope="session")
def parity_photos(products_dir, clothing_dir, street2shop_dir) -> list[Path]:
    """Real photos of several sizes and shapes: 224x224, 400x533, 192x256."""
    return (sorted((products_dir / "images").glob("*.jpg"))[:3]
            + sorted((clothing_dir / "test" / "pants").glob("*.jpg"))[:3]
            + sorted((street2shop_dir / "person").glob("*.jpg"))[:3])


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """Settings pointing every output into a temporary home."""
    home = tmp_path_factory.mktemp("home")
    return replace(Settings(), home=home, model_repository_dir="",
                   cache_dir=home / "cache", milvus_uri=str(home / "catalog.db"),
                   triton_url=f"127.0.0.1:{free_port()}")


@pytest.fixture(scope="session")
def exported(settings, parity_photos):
    from fashion_search.export.run import export

    return export(parity_photos=parity_photos, settings=settings)


@pytest.fixture(scope="session")
def street_dir() -> Path:
    return require(STREET)


@pytest.fixture(scope="session")
def finder(settings, street_dir):
    """A garment finder trained on the street photos by a short recipe, exported beside the
    embedder, so the session's server serves both."""
    from fashion_search.export.garment_export import export_finder
    from fashion_search.training.config import GarmentTrainConfig
    from fashion_search.training.train_garments import train_garments

    result = train_garments(GarmentTrainConfig.quick(street=str(street_dir)), settings=settings,
                            progress=False)
    export_finder(settings=settings, progress=False)
    return result


@pytest.fixture(scope="session")
def triton(settings, exported, finder):
    from fashion_search.serving.serve import ServerOptions, TritonServer

    port = int(settings.triton_url.rsplit(":", 1)[1])
    options = ServerOptions(grpc_port=port, http_port=free_port(), metrics_port=free_port())
    with TritonServer(settings, options) as server:
        yield server


@pytest.fixture(scope="session")
def client(triton):
    from fashion_search.client import EmbeddingClient

    client = EmbeddingClient(triton.grpc_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def garments(triton):
    """A gRPC client of the served garment finder."""
    from fashion_search.garment_client import GarmentClient

    client = GarmentClient(triton.grpc_url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def catalog_items(products_dir):
    from fashion_search.catalog import open_catalog

    return open_catalog(products_dir)[:CATALOG_SIZE]


@pytest.fixture(scope="session")
def indexed(settings, client, catalog_items):
    """A Milvus Lite catalogue of a few hundred real product photos."""
    from fashion_search.vectordb.lifecycle import rebuild
    from fashion_search.vectordb.store import CatalogStore

    store = CatalogStore(settings.resolved_milvus_uri)
    report = rebuild(catalog_items, client, store, progress=False)
    yield store, report
    store.close()


@pytest.fixture(scope="session")
def milvus_server(milvus_process) -> str:
    """The URI of a real Milvus standalone server on 127.0.0.1."""
    return f"http://127.0.0.1:{milvus_process.listen_port}"


def restart_milvus(server) -> None:
    """Start a killed Milvus server again on its own ports. The launcher probes each port
    with a plain bind, which the dead server's TIME_WAIT connections fail for a minute;
    the server itself binds with SO_REUSEADDR, so the probe does too."""
    def probe(port):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            return sock
        except OSError:
            sock.close()
            return None

    server.config.try_bind_port = probe
    try:
        server.start()
    finally:
        del server.config.try_bind_port
    # Up is not ready: a restarted server reloads its collections for a while first.
    from pymilvus import MilvusClient

    client = MilvusClient(uri=f"http://127.0.0.1:{server.listen_port}", timeout=60)
    try:
        for name in client.list_collections():
            client.load_collection(name, timeout=180)
    finally:
        client.close()


@pytest.fixture(scope="session")
def milvus_process(tmp_path_factory):
    """A real Milvus standalone server (the PyPI ``milvus`` launcher), one per test run: two
    on one machine share a pid file and the second crashes."""
    import logging

    from milvus import MilvusServer

    server = MilvusServer()
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    try:
        server.start()
    except (RuntimeError, TimeoutError) as err:
        logs = Path(server.config.base_data_dir) / "logs" / "milvus-stderr.log"
        tail = logs.read_text(errors="replace")[-2000:] if logs.exists() else ""
        raise RuntimeError(f"the Milvus server did not start ({err}):\n{tail}") from err
    logging.getLogger(__name__).info("Milvus server on 127.0.0.1:%d", server.listen_port)
    yield server
    server.stop()


@pytest.fixture(params=["lite", "server"])
def open_store(request, tmp_path):
    """Opens stores on one fresh catalogue: a Milvus Lite file, or an alias on the real server."""
    from fashion_search.vectordb.store import CatalogStore

    if request.param == "lite":
        uri, alias = str(tmp_path / "catalog.db"), "catalog"
    else:
        uri, alias = request.getfixturevalue("milvus_server"), f"t_{os.urandom(6).hex()}"
    opened = []

    def open_one() -> CatalogStore:
        store = CatalogStore(uri, alias=alias)
        opened.append(store)
        return store

    open_one.backend = request.param
    yield open_one
    for store in opened:
        store.close()
