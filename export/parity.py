"""Do PyTorch and onnxruntime give the same embedding for the same photo?"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from fashion_search import triton_config as tc
from fashion_search.preprocessing import PreprocessConfig, preprocess
from fashion_search.training.checkpoint import LoadedModel

log = logging.getLogger(__name__)

MIN_COSINE = 0.999


class ParityError(AssertionError):
    """The exported graph does not reproduce the PyTorch model."""


@dataclass(frozen=True)
class ParityReport:
    photos: int
    min_cosine: float
    mean_cosine: float

    @property
    def ok(self) -> bool:
        return self.min_cosine >= MIN_COSINE


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def onnx_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def torch_embed(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return loaded.model.eval()(torch.from_numpy(pixels)).numpy()


def check_parity(
    loaded: LoadedModel, onnx_path: Path, photos: Sequence[bytes],
    contract: PreprocessConfig | None = None,
) -> ParityReport:
    """Embed each photo both ways; raise ParityError below ``MIN_COSINE``."""
    if not photos:
        raise ValueError("parity needs at least one photo")
    contract = contract or loaded.preprocessing
    pixels = np.stack([preprocess(p, contract, name=f"photo {i}") for i, p in enumerate(photos)])
    expected = torch_embed(loaded, pixels)
    session = onnx_session(onnx_path)
    got = session.run([tc.EMBEDDING], {tc.PIXELS: pixels})[0]
    cosines = cosine_rows(expected, got)
    report = ParityReport(len(photos), float(cosines.min()), float(cosines.mean()))
    log.info("parity on %d photos: min cosine %.6f", report.photos, report.min_cosine)
    if not report.ok:
        raise ParityError(
            f"onnxruntime and PyTorch disagree: min cosine {report.min_cosine:.6f} "
            f"< {MIN_COSINE} over {report.photos} photos"
        )
    return report
