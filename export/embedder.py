"""In-process embedding of photo files through the exported ONNX graph.

Evaluation scores the graph that will be served (checked against PyTorch at
export), so an in-process figure and a served figure describe one model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fashion_search import colour
from fashion_search import tensor_names as tc
from fashion_search.batch_slices import run_in_slices
from fashion_search.catalog import CatalogItem
from fashion_search.checkpoint import LoadedModel
from fashion_search.config import BATCH_SIZE
from fashion_search.export.onnx_export import export_onnx, output_names
from fashion_search.features import Features
from fashion_search.onnx_graph import onnx_session
from fashion_search.pixel_buffers import PixelBuffer, decoded_ahead
from fashion_search.preprocessing import preprocess_photos


class OnnxEmbedder:
    """Photos -> embeddings, colour descriptors and category probabilities, with onnxruntime.

    The same steps as the server's ensemble, in one process.
    """

    def __init__(self, loaded: LoadedModel, workdir: Path | None = None):
        self.loaded = loaded
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fashion-search-eval-")
            workdir = Path(self._tmp.name)
        self.path = export_onnx(loaded, Path(workdir) / f"{loaded.version}.onnx")
        self.session = onnx_session(self.path, spinning=False)  # photos decode alongside
        self.outputs = output_names(loaded)

    def embed(self, items: Sequence[CatalogItem], desc: str = "embedding",
              progress: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(embeddings, category probabilities or None)."""
        found = self.features(items, desc, progress)
        return found.embeddings, found.probabilities

    def features(self, items: Sequence[CatalogItem], desc: str = "embedding",
                 progress: bool = True) -> Features:
        contract = self.loaded.preprocessing

        def pixels(batch: Sequence[CatalogItem], buffer: PixelBuffer
                   ) -> tuple[np.ndarray, np.ndarray]:
            return preprocess_photos([i.read_bytes() for i in batch], contract,
                                     [str(i.path) for i in batch], colours=True,
                                     out=buffer.rows(len(batch)))

        batches = [items[s:s + BATCH_SIZE] for s in range(0, len(items), BATCH_SIZE)]
        # Two decoding threads: photos that need resizing take most of a core each.
        decoded = decoded_ahead(batches, pixels, contract, workers=2)
        embeddings, colours, probabilities = [], [], []
        with tqdm(total=len(items), desc=desc, unit="photo", disable=not progress) as bar:
            for batch, (array, shades) in zip(batches, decoded):
                result = run_in_slices(self.session, self.outputs, tc.PIXELS, array)
                colours.append(shades)
                embeddings.append(result[0])
                if len(result) > 1:
                    probabilities.append(result[1])
                bar.update(len(batch))
        dim = self.loaded.model.embedding_dim
        if not embeddings:
            return Features(np.zeros((0, dim), np.float32), np.zeros((0, colour.DIM), np.float32))
        return Features(np.concatenate(embeddings), np.concatenate(colours),
                        np.concatenate(probabilities) if probabilities else None)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
