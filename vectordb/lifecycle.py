"""Keeping the live collection equal to the catalogue.

A full index fills a new collection (model version + run id), checks it, and
only then moves the alias, so searches see the old catalogue or the new one,
never a mix, and a failed run changes nothing live. Each run records its
collection as being filled when it starts and as live when it is switched in,
so a run that died without cleaning up (killed, or Milvus gone) is recognised
by the next one and its collection dropped first; pruning then counts only
collections that went live, beyond ``keep``, and never drops the live one or the
one it replaced last (a search may still be reading it, and it is the way back).
An incremental update works in place on the live collection: it embeds new and
changed photos (by content hash), points moved photos' rows at their new paths,
skips unchanged ones (a rerun after a crash embeds only what is missing) and
deletes items gone from the catalogue. One writer at a time per catalogue.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fashion_search.catalog import CatalogItem
from fashion_search.client import EmbeddingClient
from fashion_search.config import BATCH_SIZE, KEEP_COLLECTIONS
from fashion_search.errors import CatalogCheckFailed, CatalogNotIndexed, CollectionMismatch
from fashion_search.vectordb.bookkeeping import FILLING, LIVE
from fashion_search.vectordb.filters import catalogue_columns
from fashion_search.vectordb.ingest import IngestReport, content_hash, ingest
from fashion_search.vectordb.lock import ServerLease
from fashion_search.vectordb.schema import CollectionInfo, collection_name, new_run_id
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What an index run did, and how long each part took."""

    collection: str
    model_version: str
    mode: str  # "full" or "incremental"
    indexed: int = 0  # rows in the live collection afterwards
    added: int = 0
    changed: int = 0
    removed: int = 0
    moved: int = 0  # rows pointed at a photo's new path, not embedded again
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())

    @property
    def rate(self) -> float:
        embedded = self.added + self.changed
        return embedded / self.timings["embed"] if self.timings.get("embed") else 0.0

    def summary(self) -> str:
        parts = [f"{self.mode} index of {self.collection}: {self.indexed} items live",
                 f"added {self.added}, changed {self.changed}, removed {self.removed}, "
                 f"moved {self.moved}, unchanged {self.unchanged}, "
                 f"skipped {len(self.skipped)}"]
        if self.dropped:
            parts.append(f"dropped old collections: {', '.join(self.dropped)}")
        parts.append("took " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        return "; ".join(parts)


def unique_ids(items: Sequence[CatalogItem]) -> list[CatalogItem]:
    """One item per id (the last one wins), so every id is one row."""
    by_id = {item.id: item for item in items}
    if len(by_id) < len(items):
        log.warning("%d catalogue rows repeat an id; the last of each is indexed",
                    len(items) - len(by_id))
    return list(by_id.values())


@contextlib.contextmanager
def _timed(report: IndexReport, step: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        report.timings[step] = report.timings.get(step, 0.0) + time.perf_counter() - started


@contextlib.contextmanager
def writer(store: CatalogStore) -> Iterator[ServerLease | None]:
    """Hold the catalogue for one writer (renewed in the background while it writes);
    on Lite, opening the file already did."""
    if store.is_lite:
        yield None
        return
    lease = ServerLease(store, store.alias)
    lease.acquire()
    try:
        yield lease
    finally:
        lease.release()


def verify(store: CatalogStore, name: str, expected: int,
           samples: Sequence[tuple[str, np.ndarray]]) -> None:
    """Refuse a collection that is empty, short of rows, or does not find its own items."""
    if expected == 0:
        raise CatalogCheckFailed("no photo of the catalogue could be indexed (see the skipped "
                                 "list); the catalogue in use was left as it was")
    count = store.count(name)
    if count != expected:
        raise CatalogCheckFailed(f"collection {name} holds {count} rows, {expected} were "
                                 "indexed; the catalogue in use was left as it was")
    info = store.info(name)
    for item_id, vector in samples:
        query = info.query(vector)
        hits = store.client.search(name, [query.tolist()], limit=1,
                                   output_fields=["id"], consistency_level="Strong")
        if not hits[0] or str(hits[0][0]["id"]) != item_id:
            raise CatalogCheckFailed(f"item {item_id} does not find itself in {name}; the "
                                     "catalogue in use was left as it was")


def live_name(store: CatalogStore) -> str | None:
    """The collection the alias points at now, or None."""
    try:
        return store.current_collection()
    except CatalogNotIndexed:
        return None


def drop_abandoned(store: CatalogStore) -> list[str]:
    """Drop the collections of runs that died before going live, and the records of
    collections that are gone; the writer's lease means no other run is filling one."""
    states = store.run_states()
    if not states:
        return []
    live = live_name(store)
    present = {c.name for c in store.collections()}
    doomed = [name for name, state in sorted(states.items())
              if state == FILLING and name != live and name in present]
    for name in doomed:
        log.warning("dropping collection %s, left half-filled by an index run that died", name)
        store.drop(name)
    for name in sorted(set(states) - present - set(doomed)):
        store.forget_run(name)
    return doomed


def start_run(store: CatalogStore, info: CollectionInfo) -> list[str]:
    """Clear what dead runs left, then create this run's collection, recorded as filling
    before it exists so that no kill can leave it unrecognised."""
    dropped = drop_abandoned(store)
    store.record_run(info.name, FILLING)
    store.create_collection(info)
    return dropped


def abandon(store: CatalogStore, name: str) -> None:
    """Drop a failed run's collection if Milvus answers soon; else the next run will."""
    try:
        with store.cleanup_calls():
            store.drop(name)
    except Exception as err:  # noqa: BLE001 - the run's own error is the one to report
        log.warning("could not drop collection %s of the failed run (%s); the next index "
                    "run drops it", name, err)


def go_live(store: CatalogStore, name: str, keep: int) -> list[str]:
    """Switch the alias to ``name``, then prune; returns the collections dropped."""
    replaced = live_name(store)
    store.record_run(name, LIVE)  # before the switch: a kill between leaves a complete one
    store.point_alias(name)
    return prune(store, keep, name, replaced)


def prune(store: CatalogStore, keep: int, live: str, replaced: str | None = None) -> list[str]:
    """Drop this alias's oldest collections that went live beyond ``keep``, never the live
    one nor the one it replaced. Collections from before runs were recorded count as
    having gone live."""
    states = store.run_states()
    went_live = [c.name for c in store.collections() if states.get(c.name, LIVE) == LIVE]
    protected = {live, replaced} & set(went_live)
    others = [name for name in went_live if name not in protected]
    doomed = others[:max(0, len(others) - max(0, keep - len(protected)))]
    for name in doomed:
        store.drop(name)
    return doomed


def rebuild(items: Sequence[CatalogItem], client: EmbeddingClient, store: CatalogStore,
            catalog: str = "", keep: int = KEEP_COLLECTIONS, batch_size: int = BATCH_SIZE,
            progress: bool = True) -> IndexReport:
    """Fill a new collection with the whole catalogue, check it, then make it live."""
    items = unique_ids(items)
    info = client.info()
    run = new_run_id()
    columns = catalogue_columns(item.labels for item in items)
    name = collection_name(info.version, run)
    report = IndexReport(name, info.version, "full")
    with writer(store):
        with _timed(report, "create"):
            report.dropped = start_run(store, CollectionInfo.for_model(
                name, info, store.alias, catalog, run, columns))
        try:
            with _timed(report, "embed"):
                done = ingest(items, client, store, name, batch_size=batch_size,
                              progress=progress)
            with _timed(report, "verify"):
                verify(store, name, done.indexed, done.samples)
        except BaseException:
            abandon(store, name)  # a failed run leaves nothing behind
            raise
        with _timed(report, "switch"):
            report.dropped += go_live(store, name, keep)
    report.added, report.indexed, report.skipped = done.indexed, done.indexed, done.skipped
    log.info("%s", report.summary())
    return report


def live_collection(store: CatalogStore) -> CollectionInfo | None:
    """What the alias points at, or None when nothing (usable) is live.

    A collection from an earlier version of this project, without our
    description, counts as nothing live: the next index replaces it.
    """
    try:
        return store.info(store.current_collection())
    except (CatalogNotIndexed, CollectionMismatch):
        return None


def switch_back(store: CatalogStore) -> tuple[str, str]:
    """Make live again the newest other collection that was live (an index that turned out
    wrong); returns (now live, was live). Both stay until an index prunes them."""
    with writer(store):
        live = store.current_collection()
        states = store.run_states()
        earlier = [c.name for c in store.collections()
                   if c.name != live and states.get(c.name, LIVE) == LIVE]
        if not earlier:
            raise CatalogCheckFailed(
                f"catalogue {store.alias!r} at {store.uri} has no earlier collection to switch "
                f"back to (only {live} is left); index the catalogue you want instead")
        store.record_run(earlier[-1], LIVE)
        store.point_alias(earlier[-1])
    log.info("switched %s back from %s to %s", store.alias, live, earlier[-1])
    return earlier[-1], live


def update(items: Sequence[CatalogItem], client: EmbeddingClient, store: CatalogStore,
           catalog: str = "", keep: int = KEEP_COLLECTIONS, batch_size: int = BATCH_SIZE,
           progress: bool = True) -> IndexReport:
    """Bring the live collection in line with the catalogue, embedding only what changed.

    Falls back to a full index when nothing is live yet, or the live collection
    was made by another model or has other label columns.
    """
    items = unique_ids(items)
    info = client.info()
    live = live_collection(store)
    columns = catalogue_columns(item.labels for item in items)
    if (live is None or live.model_version != info.version or live.columns != columns
            or live.colour != info.colour):
        why = ("nothing is indexed yet" if live is None else
               f"the live collection was made by {live.model_version}"
               if live.model_version != info.version else "the catalogue's columns changed"
               if live.columns != columns else "the colour descriptor changed")
        log.info("full index instead of an update: %s", why)
        return rebuild(items, client, store, catalog, keep, batch_size, progress)
    report = IndexReport(live.name, info.version, "incremental")
    with writer(store):
        with _timed(report, "compare"):
            report.dropped = drop_abandoned(store)
            stored = store.stored(live.name)
            wanted = {item.id: item for item in items}
            digests = {}
            for item in items:
                with contextlib.suppress(OSError):
                    digests[item.id] = content_hash(item)
            todo = [item for item in items
                    if stored.get(item.id, ("", ""))[0] != digests.get(item.id)]
            again = {item.id for item in todo}
            moved = {item.id: str(item.path) for item in items if item.id not in again
                     and stored[item.id][1] != str(item.path)}
            gone = sorted(set(stored) - set(wanted))
        report.unchanged = len(items) - len(todo) - len(moved)
        done = IngestReport(live.name, info.version)
        if todo:
            with _timed(report, "embed"):
                done = ingest(todo, client, store, live.name, batch_size=batch_size,
                              progress=progress, desc="updating", replace=True)
        with _timed(report, "remove"):
            report.removed = store.delete(live.name, gone) if gone else 0
            report.moved = store.move(live.name, moved) if moved else 0
        with _timed(report, "verify"):
            report.indexed = store.count(live.name)
    skipped = {item_id for item_id, _ in done.skipped}
    report.added = sum(1 for i in todo if i.id not in stored and i.id not in skipped)
    report.changed = sum(1 for i in todo if i.id in stored and i.id not in skipped)
    report.skipped = done.skipped
    store.refresh()  # this process re-reads categories and labels
    log.info("%s", report.summary())
    return report


def catalog_key(path: Path) -> str:
    """How a collection records which catalogue filled it."""
    return str(Path(path).expanduser().resolve())
