"""Every failure a person can fix, as one family the CLI catches and prints in one line.

Each class also derives from the built-in error it refines (``ValueError``,
``ConnectionError``...), so callers that catch those keep working. Messages
say what went wrong and what to do; they name the file, server or setting.
"""

from __future__ import annotations

import re

# The most of one value a message repeats: a 100,000-character category is not echoed whole.
SHOWN_CHARS = 80


def clipped(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` as text, clipped to ``limit`` characters with the length it had."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``value`` as a message quotes it (``repr``), clipped to ``limit`` characters."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


class FashionSearchError(Exception):
    """Base of every error this project raises on purpose."""


class ImageError(FashionSearchError, ValueError):
    """A photo that cannot be used; the message names it and says what to do."""


class CatalogError(FashionSearchError, ValueError):
    """A catalogue that cannot be read; the message says what layout was expected."""


class ConfigError(FashionSearchError, ValueError):
    """A setting (an environment variable) has a value the project does not know."""


class RecipeError(FashionSearchError, ValueError):
    """A training or evaluation setting that cannot work; the message says what to change."""


class BackboneError(FashionSearchError, ValueError):
    """An unknown backbone name or weights that do not fit it."""


class CheckpointError(FashionSearchError, ValueError):
    """A checkpoint that is missing, unreadable or not one of ours."""


class ParityError(FashionSearchError):
    """The exported graph does not reproduce the PyTorch model."""


class RepositoryError(FashionSearchError):
    """The Triton configs and the ONNX graph disagree, or the model repository is not built."""


class ServerError(FashionSearchError):
    """Triton could not be started; carries the server's own log lines."""


class TritonUnavailable(FashionSearchError, ConnectionError):
    """The server is down or unreachable; the message says how to start or point to it."""


class TritonTimeout(FashionSearchError, TimeoutError):
    """The server is up but did not answer in time (overloaded, or a batch too large)."""


# How the server words a photo it refused ("image 3: <reason>"). The wording, not the
# status, tells them from its other refusals: Triton answers an unknown model or a wrong
# shape with INVALID_ARGUMENT too, and backends too old for error codes answer INTERNAL.
PHOTO_REFUSAL = re.compile(r"image \d+: (.*)$", re.S)


class EmbeddingError(FashionSearchError, ValueError):
    """The server refused a request, usually because a photo was unreadable.

    ``reason`` is the server's words about the photo, without Triton's prefix
    naming the ensemble and the photo's index in the request.
    """

    def __init__(self, message: str):
        super().__init__(message)
        match = PHOTO_REFUSAL.search(message)
        self.reason = match.group(1) if match else message


class TritonFailure(FashionSearchError):
    """The server failed on a request for a reason of its own, not the photos'.

    Kept apart from :class:`EmbeddingError` so that a crashed or overloaded
    server is never taken for bad photos (indexing skips those and goes on).
    """


class ServedModelMismatch(FashionSearchError):
    """Triton serves a different model from the one asked for."""


class DownloadError(FashionSearchError):
    """The default catalogue could not be fetched; the message offers the local way."""


class MilvusFailure(FashionSearchError):
    """A Milvus call failed after the catalogue was opened (a server gone, a bad value)."""


class MilvusUnavailable(FashionSearchError, ConnectionError):
    """The Milvus catalogue cannot be opened or reached."""


class CatalogNotIndexed(FashionSearchError, LookupError):
    """No collection behind the alias yet; the message says how to build one."""


class CatalogBusy(FashionSearchError):
    """Another process holds the catalogue (a Milvus Lite file, or a writer's lease)."""


class CatalogCheckFailed(FashionSearchError):
    """A freshly indexed collection failed its checks, so it did not go live."""


class CollectionMismatch(FashionSearchError, ValueError):
    """A collection that cannot take or answer this model's vectors (another model)."""


class UnknownCategory(FashionSearchError, ValueError):
    """A category filter naming a category the catalogue does not have."""


class UnknownLabel(FashionSearchError, ValueError):
    """A label filter naming a column or a value the catalogue does not have."""


class InvalidRequest(FashionSearchError, ValueError):
    """A search or step argument out of range (``k`` below 1, say)."""


class MissingInput(FashionSearchError, FileNotFoundError):
    """A file or folder the user named does not exist."""
