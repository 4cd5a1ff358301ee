"""gRPC client of the served embedder: photo bytes in, L2-normalised vectors out."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.config import ENV_PREFIX
from fashion_search.errors import (
    PHOTO_REFUSAL,
    EmbeddingError,
    TritonFailure,
    TritonTimeout,
    TritonUnavailable,
)
from fashion_search.features import Features
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.same_item import SameItemScale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """What the served model says about itself (carried in its Triton config)."""

    version: str
    dim: int
    metric: str
    preprocessing: PreprocessConfig
    max_batch_size: int  # the largest request the called model (the ensemble) takes
    labels: tuple[str, ...] = ()
    colour: str = ""  # the colour descriptor the server computes; "" when it has none
    templates: str = ""  # digest of the repository templates it was rendered from
    same_item: SameItemScale | None = None  # a street photo's match scale, if it has one


class EmbeddingClient:
    def __init__(self, url: str, model: str = tc.ENSEMBLE, timeout_s: float = 60.0):
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url=url)
        self._info: ModelInfo | None = None

    def _unavailable(self, err: Exception) -> TritonUnavailable:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return TritonUnavailable(
            f"cannot reach the Triton server at {self.url} ({reason}); start it with "
            f"`fashion-search serve` or point {ENV_PREFIX}TRITON_URL at a running one"
        )

    def is_ready(self) -> bool:
        try:
            return bool(self._client.is_server_ready() and self._client.is_model_ready(self.model))
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            return False

    def info(self) -> ModelInfo:
        if self._info is None:
            try:
                called = config = self._client.get_model_config(self.model).config
                if config.ensemble_scheduling.step:  # the step that embeds carries the facts
                    config = self._client.get_model_config(
                        tc.producer(config, tc.EMBEDDING)).config
            except InferenceServerException as err:
                if "UNAVAILABLE" in (err.status() or "").upper() or not err.status():
                    raise self._unavailable(err) from err
                raise TritonFailure(
                    f"the Triton server at {self.url} is up but does not serve {self.model!r} "
                    f"({err.message()}); start it with `fashion-search serve`, or check its "
                    "model repository"
                ) from err
            output = tc.tensor(config, tc.EMBEDDING, output=True)
            self._info = ModelInfo(
                version=tc.get_parameter(config, tc.MODEL_VERSION_PARAM, "unknown"),
                dim=int(output.dims[-1]),
                metric=tc.get_parameter(config, tc.METRIC_PARAM, "COSINE"),
                preprocessing=PreprocessConfig.from_json(
                    tc.get_parameter(config, tc.PREPROCESSING_PARAM, "{}")
                ),
                # the model requests go to refuses larger batches, whatever its steps take
                max_batch_size=int(called.max_batch_size) or 1,
                labels=tuple(json.loads(tc.get_parameter(config, tc.LABELS_PARAM, "[]"))),
                colour=tc.get_parameter(config, tc.COLOUR_PARAM, "") or "",
                templates=tc.get_parameter(config, tc.TEMPLATES_PARAM, "") or "",
                same_item=SameItemScale.from_json(
                    tc.get_parameter(config, tc.SAME_ITEM_PARAM, "")),
            )
        return self._info

    def _infer(self, images: list[bytes], outputs: tuple[str, ...] = (tc.EMBEDDING,)
               ) -> list[np.ndarray]:
        array = np.empty((len(images), 1), dtype=object)
        for index, data in enumerate(images):
            array[index, 0] = data
        request = grpcclient.InferInput(tc.INPUT_BYTES, list(array.shape), "BYTES")
        request.set_data_from_numpy(array)
        requested = [grpcclient.InferRequestedOutput(name) for name in outputs]
        try:
            result = self._client.infer(self.model, [request], outputs=requested,
                                        client_timeout=self.timeout_s)
        except InferenceServerException as err:
            status = (err.status() or "").upper()
            if "DEADLINE" in status:
                raise TritonTimeout(
                    f"the Triton server at {self.url} did not answer a batch of {len(images)} "
                    f"photos within {self.timeout_s:g}s; it is up but busy: send smaller "
                    f"batches (--batch-size) or allow more time ({ENV_PREFIX}TRITON_TIMEOUT_S)"
                ) from err
            if "UNAVAILABLE" in status:
                raise self._unavailable(err) from err
            message = err.message() or str(err)
            if PHOTO_REFUSAL.search(message):  # how both backends word a photo's fault
                raise EmbeddingError(message) from err
            first = (message.strip().splitlines() or ["no message"])[0]
            code = (err.status() or "no status").removeprefix("StatusCode.")
            hint = ("the request does not fit the model it serves: is it this project's "
                    "repository?" if "INVALID_ARGUMENT" in status
                    else "its log says why; restart it if it persists")
            raise TritonFailure(f"the Triton server at {self.url} failed on a batch of "
                                f"{len(images)} photos ({code}: {first}); {hint}") from err
        return [result.as_numpy(name) for name in outputs]

    def _batched(self, images: list[bytes], outputs: tuple[str, ...]) -> list[np.ndarray]:
        step = self.info().max_batch_size
        parts = [self._infer(images[i:i + step], outputs) for i in range(0, len(images), step)]
        return [np.concatenate(column).astype(np.float32, copy=False) for column in zip(*parts)]

    def embed(self, images: list[bytes]) -> np.ndarray:
        """Embed encoded photos; one bad photo fails the call with its reason."""
        if not images:
            return np.zeros((0, self.info().dim), dtype=np.float32)
        return self._batched(images, (tc.EMBEDDING,))[0]

    def features(self, images: list[bytes]) -> Features:
        """Embeddings, colour descriptors and category probabilities in one request."""
        info = self.info()
        outputs = ((tc.EMBEDDING,) + ((tc.COLOUR,) if info.colour else ())
                   + ((tc.CATEGORY_PROBS,) if info.labels else ()))
        if not images:
            empty = {tc.EMBEDDING: info.dim, tc.COLOUR: colour.DIM,
                     tc.CATEGORY_PROBS: len(info.labels)}
            columns = [np.zeros((0, empty[name]), np.float32) for name in outputs]
        else:
            columns = self._batched(images, outputs)
        named = dict(zip(outputs, columns))
        return Features(named[tc.EMBEDDING], named.get(tc.COLOUR), named.get(tc.CATEGORY_PROBS))

    def predict(self, images: list[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """(embeddings, category probabilities in ``info().labels`` order, or None)."""
        found = self.features(images)
        return found.embeddings, found.probabilities

    def embed_one(self, image: bytes) -> np.ndarray:
        return self.embed([image])[0]

    def close(self) -> None:
        self._client.close()
