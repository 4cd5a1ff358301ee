"""One writer per catalogue, and a message that names the other one.

A Milvus Lite file can be open in one process only (Milvus Lite's own rule),
so every process that opens one records itself in ``<file>.owner`` under an
exclusive ``flock``; the next process is told who holds the file. On a
Milvus server, readers and writers share it; writers of one alias take a
lease row (owner, expiry) that a second writer sees; a writer killed on this
machine frees it at once, one elsewhere when it expires. A server offers no
compare-and-swap, so a writer reads its lease back after a short wait: of two
writers that start together, the one whose row survived goes on and the
other is told who holds the catalogue.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_search.errors import CatalogBusy

if TYPE_CHECKING:
    from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)

LEASE_S = 120.0  # a writer that stops renewing (killed) frees the catalogue after this


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:200],
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def _gone(owner: dict[str, Any]) -> bool:
    """Whether a lease's writer ran on this machine and is no longer running (killed):
    its lease need not be waited out."""
    if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        log.info("the catalogue's last writer, %s, is no longer running; its lease ends now",
                 describe_owner(owner))
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def describe_owner(owner: dict[str, Any]) -> str:
    return (f"process {owner.get('pid')} on {owner.get('host')} "
            f"(`{owner.get('command', '?')}`, since {owner.get('since', '?')})")


class LiteFileLock:
    """Exclusive hold on a Milvus Lite file for as long as this process has it open.

    Stores in one process share the hold (Milvus Lite shares the file among
    them); it ends when the last of them closes.
    """

    _held: dict[Path, tuple[Any, int]] = {}  # owner file -> (open handle, stores using it)
    _guard = threading.Lock()

    def __init__(self, db_path: Path):
        self.path = Path(str(Path(db_path).resolve()) + ".owner")
        self._acquired = False

    def acquire(self) -> None:
        with self._guard:
            if self.path in self._held:
                handle, users = self._held[self.path]
                self._held[self.path] = (handle, users + 1)
                self._acquired = True
                return
            self._held[self.path] = (self._lock_file(), 1)
            self._acquired = True

    def _lock_file(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                owner = json.loads(handle.read() or "{}")
            except json.JSONDecodeError:
                owner = {}
            handle.close()
            raise CatalogBusy(
                f"the Milvus Lite catalogue {self.path.with_suffix('')} is open in "
                f"{describe_owner(owner)}; a Lite file serves one process at a time: stop "
                "that process, or use a Milvus server (FASHION_SEARCH_MILVUS_URI=http://HOST:19530) "
                "so that searches and indexing can run together"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(_me()))
        handle.flush()
        return handle

    def release(self, on_last: Callable[[], None] | None = None) -> None:
        """Let go; the last store of this process calls ``on_last`` (closing the file)
        before the next process may take it."""
        if not self._acquired:
            return
        self._acquired = False
        with self._guard:
            handle, users = self._held.pop(self.path)
            if users > 1:
                self._held[self.path] = (handle, users - 1)
                return
            if on_last is not None:
                try:
                    on_last()
                except Exception as err:  # noqa: BLE001 - the hold still ends
                    log.warning("could not close %s cleanly: %s", self.path.with_suffix(""), err)
            with contextlib.suppress(OSError):
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


class ServerLease:
    """A writer's lease on one alias of a Milvus server, renewed while it writes."""

    def __init__(self, store: CatalogStore, alias: str, settle_s: float = 1.0):
        self.store = store
        self.alias = alias
        self.settle_s = settle_s
        self.token = uuid.uuid4().hex
        self.owner = _me()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _holder(self) -> tuple[str, float, dict[str, Any]] | None:
        row = self.store.read_lease(self.alias)
        if not row:
            return None
        token, expires, owner = row
        if expires <= time.time() or (token != self.token and _gone(owner)):
            return None
        return token, expires, owner

    def acquire(self) -> None:
        held = self._holder()
        if held and held[0] != self.token:
            raise self._busy(held[2])
        self.renew()
        time.sleep(self.settle_s)  # a writer that started at the same moment shows up now
        held = self._holder()
        if held and held[0] != self.token:
            raise self._busy(held[2])
        self._renewer = threading.Thread(target=self._keep_renewing, daemon=True,
                                         name="catalogue-lease")
        self._renewer.start()

    def _keep_renewing(self) -> None:
        while not self._stop.wait(LEASE_S / 4):
            try:
                self.renew()
            except Exception as err:  # noqa: BLE001 - the next try may work; the lease has slack
                log.warning("could not renew the catalogue lease: %s", err)

    def renew(self) -> None:
        self.store.write_lease(self.alias, self.token, time.time() + LEASE_S, self.owner)

    def release(self) -> None:
        """Give the lease up; never raises, so the writer's own error is the one people see."""
        self._stop.set()
        try:
            with self.store.cleanup_calls():
                if self._renewer is not None:
                    self._renewer.join(timeout=self.store.timeout_s)
                held = self._holder()
                if held and held[0] == self.token:
                    self.store.write_lease(self.alias, "", 0.0, {})
        except Exception as err:  # noqa: BLE001 - a gone server: the lease ends by itself
            log.warning("could not give up the catalogue lease (%s); it ends by itself within "
                        "%.0f s", err, LEASE_S)

    def _busy(self, owner: dict[str, Any]) -> CatalogBusy:
        return CatalogBusy(
            f"catalogue {self.alias!r} at {self.store.uri} is being indexed by "
            f"{describe_owner(owner)}; wait for it to finish (searches keep working meanwhile), "
            f"or, if it was killed, retry after its lease ends ({LEASE_S:.0f} s)"
        )
