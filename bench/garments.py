"""What finding the garment costs a query: the finder alone, and a query whole against
``--garment auto``, through the running server, on real street photos.

The two queries alternate photo by photo, so a slower minute of a shared machine
weighs on both alike; the growth row is the difference of their medians.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_search import colour
from fashion_search.client import EmbeddingClient
from fashion_search.config import Settings, load_settings
from fashion_search.errors import ConfigError
from fashion_search.export.garment_export import ensure_finder
from fashion_search.export.run import ensure_model
from fashion_search.garment_client import GarmentClient
from fashion_search.serving.search import VisualSearch
from fashion_search.serving.serve import ensure_server
from fashion_search.training.garment_data import street_photos
from fashion_search.vectordb.schema import CollectionInfo, collection_name
from fashion_search.vectordb.schema import Row as CatalogRow
from fashion_search.vectordb.store import CatalogStore

TARGET_GROWTH_MS = 15.0


@dataclass
class GarmentBench:
    header: str
    rows: list[tuple[str, float, float, str]]  # path, p50 ms, p99 ms, note

    def table(self) -> str:
        lines = [self.header, "", "| path | p50 ms | p99 ms | note |", "|---|---|---|---|"]
        lines += [f"| {p} | {a:.1f} | {b:.1f} | {n} |" for p, a, b, n in self.rows]
        return "\n".join(lines)


def _ms(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _filled_store(client: EmbeddingClient, folder: Path, rows: int) -> CatalogStore:
    """A collection of ``rows`` random unit vectors: searching it costs what a catalogue does."""
    info = client.info()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, info.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    shades = np.abs(rng.standard_normal((rows, colour.DIM))).astype(np.float32)
    shades /= np.linalg.norm(shades, axis=1, keepdims=True)
    store = CatalogStore(str(folder / "bench.db"), alias="garment_bench")
    name = collection_name(info.version, "garment_bench")
    store.create_collection(CollectionInfo.for_model(name, info, "garment_bench"))
    store.insert(name, [CatalogRow(f"item-{i}", v, f"c{i % 10}", "", info.version,
                                   colour=s if info.colour else None)
                        for i, (v, s) in enumerate(zip(vectors, shades))])
    store.point_alias(name)
    return store


def bench_garments(count: int = 100, collection_size: int = 10_000,
                   settings: Settings | None = None) -> GarmentBench:
    """p50/p99 of the finder and of a query whole and with ``--garment auto``."""
    settings = settings or load_settings()
    photos = [p.path.read_bytes() for p in
              street_photos(settings.data_dir / "ccp-street", ("test",))][:count]
    served = ensure_model(settings=settings)
    finder_version = ensure_finder(settings)
    if finder_version is None:
        raise ConfigError("no garment finder to measure; train one with "
                          "`fashion-search train-garments`")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        client = ensure_server(settings, stack, expected_version=served.version)
        finder = GarmentClient(client.url, settings.triton_timeout_s)
        stack.callback(finder.close)
        store = _filled_store(client, Path(tmp), collection_size)
        stack.callback(store.close)
        search = VisualSearch(client, store, finder)
        for photo in photos[:5]:  # warm both paths
            search.search(photo)
            search.find(photo, suggestions=0, garment="auto")
        found, whole, auto, alone = [], [], [], []
        for photo in photos:
            start = time.perf_counter()
            garments = finder.find(photo)
            found.append(time.perf_counter() - start)
            start = time.perf_counter()
            search.search(photo, k=10)
            whole.append(time.perf_counter() - start)
            start = time.perf_counter()
            try:
                search.find(photo, k=10, suggestions=0, garment="auto")
            except Exception:  # noqa: BLE001 - a photo with no garment found is not timed
                continue
            auto.append(time.perf_counter() - start)
            start = time.perf_counter()  # the same garment by name: its crop alone
            search.find(photo, k=10, suggestions=0, garment=garments[0].kind)
            alone.append(time.perf_counter() - start)
    rows = [("finder: photo -> garments (Triton)", *_ms(found), f"{len(found)} photos"),
            ("query: whole photo", *_ms(whole), f"top 10 of {collection_size:,}"),
            ("query: --garment auto", *_ms(auto), f"{len(auto)} photos with a garment found"),
            ("query: --garment KIND (crop alone)", *_ms(alone), "auto's garment, named")]
    growth = rows[2][1] - rows[1][1]
    rows.append(("growth of the query p50", growth, float("nan"),
                 f"target <= {TARGET_GROWTH_MS:g} ms: {'met' if growth <= TARGET_GROWTH_MS else 'MISSED'}"))
    header = (f"{len(photos)} street photos (ccp-street reporting tenth); model {served.version}; "
              f"finder {finder_version}; one query at a time, whole, auto and by name in turn")
    return GarmentBench(header, rows)
