"""Which instances of one served model are running a batch now, seen by all of them.

Triton runs each Python-backend instance in a process of its own. On a CPU the
instances share the cores: one instance alone should use them all, but two
that each ask for every core make four threads fight over two cores: on two
cores that cost 7% of the photos/s at 8 clients and 17% with four batches in
flight. So an instance looks at this board before it runs the network, and
takes its share of the cores when another is busy.

The board is a small shared file, one byte per instance (a model served by
one instance keeps its byte in its own memory). Each instance writes only
its own byte, so no lock is needed; a stale read costs one batch the less
suited thread count, never a wrong answer. The first instance to stop
removes the file (the others keep their mapping); files of servers that were
killed before they could are removed when the next server's instances start.
"""

from __future__ import annotations

import logging
import mmap
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

SHARED_MEMORY = Path("/dev/shm")
PREFIX = "fashion-search-"


def board_folder() -> Path:
    """Shared memory where the system has it, else the temporary folder."""
    return SHARED_MEMORY if SHARED_MEMORY.is_dir() else Path(tempfile.gettempdir())


def instance_slot(instance_name: str) -> int:
    """The instance's index in its group: Triton names them ``<model>_<group>_<index>``."""
    tail = instance_name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def thread_shares(cores: int, instances: int) -> tuple[int, int]:
    """Threads for an instance running alone, and for one running beside busy others."""
    return cores, max(1, cores // max(instances, 1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_boards(folder: Path) -> list[Path]:
    """Remove the boards of servers that are gone; those of running servers stay."""
    removed = []
    for path in folder.glob(f"{PREFIX}*.board"):
        pid = path.name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        log.info("removed %d board(s) left by servers that were killed: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


class InstanceBoard:
    """One byte per instance of a model, shared by the instances' processes."""

    def __init__(self, key: str, count: int, slot: int, folder: Path | None = None):
        if not 0 <= slot < count:
            raise ValueError(f"instance slot {slot} is outside a board of {count}")
        self.slot = slot
        self._others = [i for i in range(count) if i != slot]
        # a lone instance has nobody to share with: its board stays in its own memory
        self.path: Path | None = ((folder or board_folder()) / f"{PREFIX}{key}.board"
                                  if self._others else None)
        try:
            self._map = self._shared(count) if self.path else mmap.mmap(-1, count)
        except OSError as err:  # serving matters more than sharing: act as if alone
            log.warning("cannot share the board %s (%s); this instance will use every core "
                        "even when the others are busy", self.path, err)
            self._map, self.path = mmap.mmap(-1, count), None
        self._map[slot] = 0  # a slot left set by a server that died is cleared
        log.debug("instance %d of %d on the board %s", slot, count, self.path)

    def _shared(self, count: int) -> mmap.mmap:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < count:
                os.ftruncate(fd, count)
            return mmap.mmap(fd, count)
        finally:
            os.close(fd)

    @classmethod
    def for_triton_instance(cls, args: dict, count: int) -> InstanceBoard:
        """The board of the model an instance belongs to, on the server that runs it."""
        # The stub's parent is the server: instances of one server share a board,
        # two servers on one machine do not.
        key = f"{os.getppid()}-{args['model_name']}"
        folder = board_folder()
        remove_stale_boards(folder)
        slot = min(instance_slot(args["model_instance_name"]), count - 1)
        return cls(key, max(count, 1), slot, folder)

    @contextmanager
    def running(self) -> Iterator[None]:
        self._map[self.slot] = 1
        try:
            yield
        finally:
            self._map[self.slot] = 0

    def others_running(self) -> bool:
        return any(self._map[i] for i in self._others)

    def close(self) -> None:
        """Unmaps the board; the first instance to close removes its file."""
        self._map.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
