"""Milvus calls that end in bounded time, and whose failures name the catalogue and the call.

pymilvus raises its own exceptions from every call, long after the catalogue was
opened (a server that went away mid-index, a value it refuses); unwrapped they
reach a shell user as a traceback and the demo as a stack dump. Left to itself
it also retries a call on a server that stopped answering 75 times (minutes),
so every call here carries a deadline: pymilvus stops retrying once it has
passed, and the caller gets one clear error instead of a silent hang.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Iterator
from typing import Any

import grpc
from pymilvus.exceptions import MilvusException

from fashion_search.config import ENV_PREFIX
from fashion_search.errors import MilvusFailure

TIMEOUT_VARIABLE = ENV_PREFIX + "MILVUS_TIMEOUT_S"


def _takes_timeout(method: Any) -> bool:
    try:
        return "timeout" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


class GuardedClient:
    """A ``MilvusClient`` whose calls end within ``timeout_s`` and raise :class:`MilvusFailure`.

    A call given its own ``timeout`` keeps it (clean-up after a failure waits less).
    """

    def __init__(self, client: Any, uri: str, timeout_s: float | None = None):
        self._client = client
        self._uri = uri
        self._timeout_s = timeout_s

    @contextlib.contextmanager
    def waiting_at_most(self, seconds: float) -> Iterator[None]:
        """Calls inside wait at most ``seconds`` (clean-up after a failure: Milvus may be it)."""
        before = self._timeout_s
        self._timeout_s = seconds if before is None else min(before, seconds)
        try:
            yield
        finally:
            self._timeout_s = before

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_client", "_uri", "_timeout_s"):  # copy, pickle
            raise AttributeError(name)
        found = getattr(self._client, name)
        if not callable(found):
            return found
        bounded = _takes_timeout(found)

        @functools.wraps(found)
        def call(*args: Any, **kwargs: Any) -> Any:
            if bounded and self._timeout_s is not None:
                # pymilvus bounds its retries only by a whole number of seconds
                kwargs.setdefault("timeout", max(1, math.ceil(self._timeout_s)))
            try:
                result = found(*args, **kwargs)
            except MilvusException as err:
                raise self._failure(name, err.message, kwargs.get("timeout")) from err
            except grpc.RpcError as err:  # a deadline passed: pymilvus does not wrap it
                details = err.details() if callable(getattr(err, "details", None)) else err
                raise self._failure(name, str(details), kwargs.get("timeout")) from err
            # an iterator's next batch is a call of its own (query_iterator)
            return (GuardedClient(result, self._uri, self._timeout_s)
                    if callable(getattr(result, "next", None)) else result)

        return call

    def _failure(self, call: str, message: str, timeout: float | None) -> MilvusFailure:
        where = "server" if "://" in self._uri else "Lite file"
        waited = (f"; it gave no answer within {timeout} s ({TIMEOUT_VARIABLE})"
                  if timeout and _timed_out(message) else "")
        return MilvusFailure(
            f"the Milvus catalogue at {self._uri} failed ({call}: {message}){waited}; check "
            f"that the Milvus {where} is there and reachable, then run the step again")


def _timed_out(message: str) -> bool:
    text = message.lower()
    return any(word in text for word in ("timeout", "deadline", "unavailable", "retry"))
