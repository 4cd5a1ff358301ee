"""gRPC client of the served garment finder: a photo in, the garments it shows out."""

from __future__ import annotations

import logging

from tritonclient.utils import InferenceServerException

from fashion_search import triton_config as tc
from fashion_search.client import EmbeddingClient
from fashion_search.errors import EmbeddingError, ImageError, TritonFailure
from fashion_search.garments import FinderSettings, Garment, read_garments
from fashion_search.images import upright_size

log = logging.getLogger(__name__)

OUTPUTS = (tc.GARMENT_BOXES, tc.GARMENT_SCORES, tc.GARMENT_SHARES)


class GarmentClient(EmbeddingClient):
    """Calls ``find_garments``; its settings (threshold, contract) come from the server."""

    def __init__(self, url: str, timeout_s: float = 60.0):
        super().__init__(url, model=tc.FINDER, timeout_s=timeout_s)
        self._settings: FinderSettings | None = None

    def settings(self) -> FinderSettings:
        if self._settings is None:
            try:
                config = self._client.get_model_config(self.model).config
            except InferenceServerException as err:
                if "UNAVAILABLE" in (err.status() or "").upper() or not err.status():
                    raise self._unavailable(err) from err
                raise TritonFailure(
                    f"the Triton server at {self.url} serves no garment finder "
                    f"({err.message()}); train one with `fashion-search train-garments`, then "
                    "restart the server (`fashion-search serve` exports it)") from err
            self._settings = FinderSettings.from_json(tc.get_parameter(config, tc.FINDER_PARAM))
        return self._settings

    def find(self, photo: bytes, name: str = "photo", threshold: float | None = None
             ) -> list[Garment]:
        """The garments ``photo`` shows, largest first (the finder's threshold unless given)."""
        settings = self.settings()
        try:
            boxes, scores, shares = (column[0] for column in self._infer([photo], OUTPUTS))
        except EmbeddingError as err:  # the server's words, about the photo named as sent
            raise ImageError(f"{name}: {err.reason}") from err
        width, height = upright_size(photo, name)
        return read_garments(boxes, scores, shares, width, height, settings.preprocessing,
                             settings.threshold if threshold is None else threshold,
                             settings.min_share)
