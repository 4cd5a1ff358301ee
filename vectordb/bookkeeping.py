"""The catalogue's bookkeeping in small collections of its own, beside the catalogue.

Milvus Lite has no aliases, so there the alias is a row (``point_alias`` in
store.py); writers of a server catalogue hold a lease row (lock.py); and each
index run records what its collection is, being filled or gone live
(lifecycle.py), so a run that died is told from one that finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from pymilvus import DataType, MilvusClient

from fashion_search.vectordb.filters import quote
from fashion_search.vectordb.schema import MAX_TEXT

POINTER_COLLECTION = "fashion_search_aliases"
LEASE_COLLECTION = "fashion_search_leases"
# What each index run's collection is: being filled, or one that went live (lifecycle.py).
RUNS_COLLECTION = "fashion_search_runs"
FILLING, LIVE = "filling", "live"
STRONG = {"consistency_level": "Strong"}  # read what was just written (server)


class Bookkeeping:
    """The small collections' rows, for a store with a guarded ``client`` and an ``alias``."""

    client: Any
    alias: str

    def _small_collection(self, name: str, key: str, fields: Sequence[str]) -> None:
        if self.client.has_collection(name):
            self.client.load_collection(name)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(key, DataType.VARCHAR, is_primary=True, max_length=256)
        for name_ in fields:
            schema.add_field(name_, DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="L2")
        self.client.create_collection(name, schema=schema, index_params=index)

    # --- index runs ------------------------------------------------------------
    def record_run(self, name: str, state: str) -> None:
        """Record that collection ``name`` is being filled (``FILLING``) or went ``LIVE``."""
        self._small_collection(RUNS_COLLECTION, "collection", ["alias", "state", "since"])
        self.client.upsert(RUNS_COLLECTION, [{"collection": name, "alias": self.alias,
                                              "state": state, "since": repr(time.time()),
                                              "unused": [0.0, 0.0]}])

    def run_states(self) -> dict[str, str]:
        """Collection -> its recorded state, for this alias's index runs."""
        if not self.client.has_collection(RUNS_COLLECTION):
            return {}
        self.client.load_collection(RUNS_COLLECTION)
        rows = self.client.query(RUNS_COLLECTION, filter=f"alias == {quote(self.alias)}",
                                 output_fields=["collection", "state"], **STRONG)
        return {row["collection"]: row["state"] for row in rows}

    def forget_run(self, name: str) -> None:
        if self.client.has_collection(RUNS_COLLECTION):
            self.client.delete(RUNS_COLLECTION, filter=f"collection == {quote(name)}")

    # --- writer leases (server) ----------------------------------------------
    def read_lease(self, alias: str) -> tuple[str, float, dict[str, Any]] | None:
        self._small_collection(LEASE_COLLECTION, "alias", ["token", "expires", "owner"])
        rows = self.client.query(LEASE_COLLECTION, filter=f"alias == {quote(alias)}",
                                 output_fields=["token", "expires", "owner"], **STRONG)
        if not rows or not rows[0]["token"]:
            return None
        return rows[0]["token"], float(rows[0]["expires"]), json.loads(rows[0]["owner"] or "{}")

    def write_lease(self, alias: str, token: str, expires: float, owner: dict[str, Any]) -> None:
        self._small_collection(LEASE_COLLECTION, "alias", ["token", "expires", "owner"])
        self.client.upsert(LEASE_COLLECTION, [{"alias": alias, "token": token,
                                               "expires": repr(expires),
                                               "owner": json.dumps(owner), "unused": [0.0, 0.0]}])

