"""The ``demo`` step: model, server, catalogue and page, each reused when already built."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from fashion_search.client import EmbeddingClient, ModelInfo
from fashion_search.config import ENV_PREFIX, Settings, load_settings
from fashion_search.demo.app import build_app
from fashion_search.demo.launch import EXAMPLES, catalogue_photos, example_photos, launch
from fashion_search.errors import ConfigError, TritonUnavailable
from fashion_search.export.served import ServedModel
from fashion_search.garment_client import GarmentClient
from fashion_search.serving.search import VisualSearch
from fashion_search.serving.serve import ensure_server
from fashion_search.training.config import GarmentTrainConfig
from fashion_search.vectordb.indexing import index, resolve_catalog
from fashion_search.vectordb.lifecycle import catalog_key, live_collection
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)


@dataclass
class RunningDemo:
    url: str
    app: object
    stack: ExitStack
    model: ServedModel

    def wait(self) -> None:
        """Serve until interrupted, then stop the page and the server started for it."""
        try:
            self.app.block_thread()
        finally:
            self.close()

    def close(self) -> None:
        self.stack.close()


def _already_indexed(store: CatalogStore, catalog: Path, model: ModelInfo) -> bool:
    """The live collection holds this catalogue, embedded by this model, with its colours."""
    live = live_collection(store)
    return (live is not None and live.catalog == catalog_key(catalog)
            and live.model_version == model.version and live.colour == model.colour
            and store.count(live.name) > 0)


def served_model(checkpoint: Path | None, untuned: bool, settings: Settings) -> ServedModel:
    """The model to demo: the chosen one, exported when stale; in the demo image, which
    has no PyTorch to load or export one, the model the running Triton server serves."""
    try:
        from fashion_search.export.run import ensure_model
    except ImportError as missing:  # the demo image: it only talks to Triton and Milvus
        if checkpoint is not None or untuned:
            raise ConfigError(f"this install has no PyTorch ({missing.name} is missing), so it "
                              "cannot choose a model; run the demo without --checkpoint or "
                              "--untuned against a running Triton server") from missing
        client = EmbeddingClient(settings.triton_url, timeout_s=settings.triton_timeout_s)
        try:
            if not client.is_ready():
                raise TritonUnavailable(
                    f"no Triton server is ready at {settings.triton_url}, and this install has "
                    f"no PyTorch to start one; point {ENV_PREFIX}TRITON_URL at a running one")
            version = client.info().version
        finally:
            client.close()
        return ServedModel(version, f"served by the Triton server at {settings.triton_url}",
                           settings.model_repository, exported=False)
    return ensure_model(checkpoint=checkpoint, untuned=untuned, settings=settings)


def served_finder(settings: Settings, train: bool) -> None:
    """Export the trained garment finder for the server (training one first when ``train``
    and none is trained); the demo image has no PyTorch and uses what the server serves."""
    try:
        from fashion_search.export.garment_export import ensure_finder, finder_checkpoint
    except ImportError:
        return
    street = settings.data_dir / GarmentTrainConfig.street
    if train and not finder_checkpoint(settings).is_file() and street.is_dir():
        from fashion_search.training.train_garments import train_garments

        log.info("training a garment finder on %s by the quick recipe (a few minutes; "
                 "`fashion-search train-garments` trains the default one)", street)
        train_garments(GarmentTrainConfig.quick(), settings=settings)
    ensure_finder(settings)


def garment_client(settings: Settings, stack: ExitStack) -> GarmentClient | None:
    finder = GarmentClient(settings.triton_url, timeout_s=settings.triton_timeout_s)
    stack.callback(finder.close)
    if finder.is_ready():
        return finder
    log.warning("the Triton server at %s serves no garment finder: photos are searched whole "
                "(train one with `fashion-search train-garments`, then restart the server)",
                settings.triton_url)
    return None


def demo(
    catalog: str | Path | None = None,
    host: str | None = None,
    port: int | None = None,
    checkpoint: Path | None = None,
    untuned: bool = False,
    reindex: bool = False,
    settings: Settings | None = None,
    garments: bool = True,
) -> RunningDemo:
    """Bring everything up and start the page; returns once it answers (call ``wait()``)."""
    settings = settings or load_settings()
    path = resolve_catalog(catalog, settings).resolve()  # fail fast, before building anything
    served = served_model(checkpoint, untuned, settings)
    if garments:
        served_finder(settings, train=True)
    stack = ExitStack()
    try:
        client = ensure_server(settings, stack, expected_version=served.version)
        store = CatalogStore(settings.resolved_milvus_uri, settings.milvus_token)
        stack.callback(store.close)
        if reindex or not _already_indexed(store, path, client.info()):
            report = index(catalog=path, triton_url=settings.triton_url, store=store,
                           settings=settings)
            if report.skipped:
                log.warning("%d catalogue photos were skipped; see %s", len(report.skipped),
                            settings.home / "index-config.json")
        else:
            log.info("catalogue %s is already indexed; reusing it", path)
        images = catalogue_photos(store)
        search = VisualSearch(client, store, garment_client(settings, stack) if garments else None)
        examples = example_photos(settings, store.example_paths(EXAMPLES))
        app = build_app(search, examples=examples)
        launch(app, host or settings.demo_host, port or settings.demo_port, images)
        stack.callback(app.close)
        url = f"http://{host or settings.demo_host}:{app.server_port}"
    except BaseException:
        stack.close()
        raise
    return RunningDemo(url, app, stack, served)
