"""One writer per catalogue on a Milvus server: a live lease is respected, a dead one taken over."""

import contextlib
import os
import threading
import time

import pytest

from fashion_search.errors import CatalogBusy
from fashion_search.vectordb.lock import LEASE_S, ServerLease

pytestmark = pytest.mark.unit


class LeaseTable:
    """Stands in for the store's lease rows (the lease logic is under test, not Milvus)."""

    uri = "http://milvus:19530"
    timeout_s = 5.0

    def __init__(self, gone: bool = False):
        self.rows = {}
        self.guard = threading.Lock()
        self.gone = gone

    def cleanup_calls(self):
        return contextlib.nullcontext()

    def read_lease(self, alias):
        if self.gone:
            raise ConnectionError("milvus is gone")
        with self.guard:
            return self.rows.get(alias)

    def write_lease(self, alias, token, expires, owner):
        with self.guard:
            self.rows[alias] = (token, expires, owner)


def test_a_lease_left_by_a_killed_writer_is_taken_over_once_it_ends():
    table = LeaseTable()
    table.write_lease("catalog", "dead-writer", time.time() - 1, {"host": "old", "pid": 1})
    lease = ServerLease(table, "catalog", settle_s=0)
    lease.acquire()
    try:
        token, expires, _ = table.read_lease("catalog")
        assert token == lease.token and expires > time.time() + LEASE_S / 2
    finally:
        lease.release()
    assert table.read_lease("catalog")[0] == ""


def test_a_lease_of_a_writer_killed_on_this_machine_is_taken_over_at_once():
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process
    table = LeaseTable()
    table.write_lease("catalog", "killed", time.time() + LEASE_S,
                      {"host": socket.gethostname(), "pid": dead.pid})
    lease = ServerLease(table, "catalog", settle_s=0)
    lease.acquire()
    lease.release()
    # a live one on this machine (this very process) is still respected
    table.write_lease("catalog", "alive", time.time() + LEASE_S,
                      {"host": socket.gethostname(), "pid": os.getpid()})
    with pytest.raises(CatalogBusy):
        ServerLease(table, "catalog", settle_s=0).acquire()


def test_a_live_lease_of_another_writer_is_refused_with_who_holds_it():
    table = LeaseTable()
    table.write_lease("catalog", "other", time.time() + LEASE_S,
                      {"host": "box-7", "pid": 4242, "command": "fashion-search index"})
    with pytest.raises(CatalogBusy, match=r"catalogue 'catalog' at http://milvus:19530 is being "
                                          r"indexed by .*4242"):
        ServerLease(table, "catalog", settle_s=0).acquire()
    assert table.read_lease("catalog")[0] == "other"


def test_of_two_writers_starting_together_exactly_one_gets_the_catalogue():
    table = LeaseTable()
    leases = [ServerLease(table, "catalog", settle_s=0.3) for _ in range(2)]
    outcomes = [None, None]

    def start(index):
        try:
            leases[index].acquire()
            outcomes[index] = "writes"
        except CatalogBusy:
            outcomes[index] = "busy"

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["busy", "writes"]
    winner = leases[outcomes.index("writes")]
    assert table.read_lease("catalog")[0] == winner.token
    winner.release()


def test_releasing_on_a_gone_server_warns_instead_of_hiding_the_writers_error(caplog):
    table = LeaseTable()
    lease = ServerLease(table, "catalog", settle_s=0)
    lease.acquire()
    table.gone = True
    lease.release()  # raises nothing: the writer's own failure is what people must see
    assert "could not give up the catalogue lease" in caplog.text
    assert f"ends by itself within {LEASE_S:.0f} s" in caplog.text
