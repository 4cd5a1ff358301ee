"""Milvus calls whose failures reach people as errors that name the catalogue and the call.

pymilvus raises its own exceptions from every call, long after the catalogue was
opened (a server that went away mid-index, a value it refuses); unwrapped they
reach a shell user as a traceback and the demo as a stack dump.
"""

from __future__ import annotations

import functools
from typing import Any

from pymilvus.exceptions import MilvusException

from fashion_search.errors import MilvusFailure


class GuardedClient:
    """A ``MilvusClient`` whose calls raise :class:`MilvusFailure` instead."""

    def __init__(self, client: Any, uri: str):
        self._client = client
        self._uri = uri

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_client", "_uri"):  # copy, pickle: not a call
            raise AttributeError(name)
        found = getattr(self._client, name)
        if not callable(found):
            return found

        @functools.wraps(found)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = found(*args, **kwargs)
            except MilvusException as err:
                where = "server" if "://" in self._uri else "Lite file"
                raise MilvusFailure(
                    f"the Milvus catalogue at {self._uri} failed ({name}: {err.message}); check "
                    f"that the Milvus {where} is there and reachable, then run the step again"
                ) from err
            # an iterator's next batch is a call of its own (query_iterator)
            return GuardedClient(result, self._uri) if callable(getattr(result, "next", None)) \
                else result

        return call
