"""Do PyTorch and onnxruntime give the same embedding for the same photo?"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fashion_search import triton_config as tc
from fashion_search.checkpoint import LoadedModel
from fashion_search.errors import ParityError
from fashion_search.onnx_graph import CUDA_PROVIDER, execution_providers, onnx_session
from fashion_search.preprocessing import PreprocessConfig, preprocess_photos

log = logging.getLogger(__name__)

MIN_COSINE = 0.999
MAX_PROB_DIFF = 1e-3


@dataclass(frozen=True)
class ParityReport:
    photos: int
    min_cosine: float
    mean_cosine: float
    max_probability_diff: float = 0.0
    devices: tuple[str, ...] = ("cpu",)  # where onnxruntime ran the graph

    @property
    def ok(self) -> bool:
        return self.min_cosine >= MIN_COSINE and self.max_probability_diff <= MAX_PROB_DIFF


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def torch_outputs(loaded: LoadedModel, pixels: np.ndarray) -> list[np.ndarray]:
    """[embedding] or [embedding, category probabilities], as the ONNX graph names them."""
    with torch.no_grad():
        out = loaded.model.eval()(torch.from_numpy(pixels))
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def torch_embed(loaded: LoadedModel, pixels: np.ndarray) -> np.ndarray:
    return torch_outputs(loaded, pixels)[0]


def check_parity(
    loaded: LoadedModel, onnx_path: Path, photos: Sequence[bytes],
    contract: PreprocessConfig | None = None, names: Sequence[str] | None = None,
) -> ParityReport:
    """Embed each photo both ways; raise ParityError below ``MIN_COSINE``. ``names`` (the
    photos' paths, say) are what an unreadable photo's error calls it."""
    if not photos:
        raise ParityError("parity needs at least one photo; give --parity-photos PATH")
    contract = contract or loaded.preprocessing
    pixels = preprocess_photos(photos, contract,
                               names or [f"photo {i}" for i in range(len(photos))])[0]
    expected = torch_outputs(loaded, pixels)
    names = [tc.EMBEDDING, tc.CATEGORY_PROBS][:len(expected)]
    # onnxruntime-gpu runs the graph on the GPU: check there too, not only on the CPU
    devices = ("cpu", "cuda") if CUDA_PROVIDER in execution_providers() else ("cpu",)
    runs = [onnx_session(onnx_path, device=d).run(names, {tc.PIXELS: pixels}) for d in devices]
    cosines = np.concatenate([cosine_rows(expected[0], got[0]) for got in runs])
    probs_diff = max((float(np.abs(expected[1] - got[1]).max()) for got in runs if len(got) > 1),
                     default=0.0)
    report = ParityReport(len(photos), float(cosines.min()), float(cosines.mean()), probs_diff,
                          devices)
    log.info("parity on %d photos (%s): min cosine %.6f", report.photos, ", ".join(devices),
             report.min_cosine)
    if not report.ok:
        raise ParityError(
            f"onnxruntime ({', '.join(devices)}) and PyTorch disagree over {report.photos} "
            f"photos: min cosine "
            f"{report.min_cosine:.6f} (must be >= {MIN_COSINE}), category probabilities differ "
            f"by up to {report.max_probability_diff:.2g} (must be <= {MAX_PROB_DIFF})"
        )
    return report
