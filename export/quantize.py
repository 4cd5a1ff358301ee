"""An int8 variant of the exported graph, for CPUs with fast integer arithmetic (VNNI).

onnxruntime's static quantization: weights int8 per output channel,
activations uint8 with ranges calibrated on real catalogue photos (the
99.999th percentile, not the extremes), written as QDQ pairs so onnxruntime
fuses them into integer kernels. Two parts stay in float: the heads
(projection and classifier, a sliver of the compute) and the first six
convolutions (the stem and the first two blocks, at the two largest feature-map sizes).
That is where int8 noise enters the network and then compounds: recipes
compared on street photos of trained pairs and on the validation photos
of clothing-dataset-small (docs/benchmarks.md) put the float graph's first street
result first in 74% of queries with every convolution quantized, 84% with
three kept in float, 91% with six, 93% with nine (one calibration set for
all four); six is the knee, at about three quarters of the fully quantized
graph's speed. Before quantizing, each quantized convolution's bias absorbs
the mean shift that rounding its weights causes (``bias_correction``): with
it the first street result is float's in 92-93% of queries and the first
validation result in 86% (90% and 79% without). Its embeddings are close
to the float graph's but not equal, so it is another model: it carries its
own model version, and a catalogue indexed with one is searched with the
same one.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from fashion_search import triton_config as tc
from fashion_search.catalog import hash_split, open_catalog
from fashion_search.config import ENV_PREFIX, Settings
from fashion_search.errors import CatalogError, ParityError
from fashion_search.export.bias_correction import correct_weight_rounding
from fashion_search.files import atomic_path
from fashion_search.onnx_graph import METADATA_PREFIX, onnx_session
from fashion_search.preprocessing import PreprocessConfig, preprocess_photos

log = logging.getLogger(__name__)

SUFFIX = "-int8"
CALIBRATION_BATCH = 16
CALIBRATION_PHOTOS = 128
INT8_MIN_COSINE = 0.95  # a broken calibration, not noise; the trained model: 0.9998
FLOAT_OPS = ("Gemm", "MatMul")  # the heads
FLOAT_CONVS = 6  # the stem and the first two blocks


class PhotoCalibration(CalibrationDataReader):
    """Batches of real photos, preprocessed by the contract once, for the activation ranges
    (and the bias correction before them)."""

    def __init__(self, photos: Sequence[bytes], contract: PreprocessConfig,
                 batch: int = CALIBRATION_BATCH):
        self.pixels: list[np.ndarray] = []
        for start in range(0, len(photos), batch):
            chunk = photos[start:start + batch]
            names = [f"calibration photo {start + i}" for i in range(len(chunk))]
            self.pixels.append(preprocess_photos(chunk, contract, names)[0])
        self._batches: Iterator[np.ndarray] = iter(self.pixels)

    def get_next(self) -> dict[str, np.ndarray] | None:
        pixels = next(self._batches, None)
        return None if pixels is None else {tc.PIXELS: pixels}


def calibration_photos(settings: Settings, counts: dict[str, int] | None = None
                       ) -> dict[str, list[bytes]]:
    """Photos spread over splits of the default catalogue, by split.

    Calibration takes "train" photos, so no held-out photo shapes the ranges;
    the result is checked on "validation" ones.
    """
    counts = counts or {"train": CALIBRATION_PHOTOS}
    source = settings.data_dir / "fashion-product-images"
    items = open_catalog(source) if source.is_dir() else []
    picked = {}
    for split, count in counts.items():
        catalogue = [i for i in items if hash_split(i.id) == split]
        if not catalogue:
            raise CatalogError(f"no catalogue photos under {source} to calibrate int8 on; "
                               f"point {ENV_PREFIX}DATA at the shared data folder, or set "
                               f"{ENV_PREFIX}PRECISION=float32")
        picked[split] = [i.read_bytes()
                         for i in catalogue[::max(1, len(catalogue) // count)][:count]]
    return picked


def check_int8(float_path: Path, int8_path: Path, photos: Sequence[bytes],
               contract: PreprocessConfig) -> float:
    """The lowest cosine between the two graphs' embeddings; ParityError below the floor."""
    pixels = preprocess_photos(photos, contract)[0]
    found = []
    for path in (float_path, int8_path):
        vectors = onnx_session(path, device="cpu").run([tc.EMBEDDING], {tc.PIXELS: pixels})[0]
        found.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    lowest = float(np.sum(found[0] * found[1], axis=1).min())
    if lowest < INT8_MIN_COSINE:
        raise ParityError(f"the int8 graph's embeddings drift from the float graph's (lowest "
                          f"cosine {lowest:.4f} < {INT8_MIN_COSINE} on {len(photos)} photos); "
                          f"serve float32 ({ENV_PREFIX}PRECISION=float32)")
    log.info("int8 against float32 on %d photos: lowest cosine %.4f", len(photos), lowest)
    return lowest


def float_nodes(graph: onnx.GraphProto) -> list[str]:
    """The nodes left in float: the first convolutions, where int8 noise would compound
    through the whole network, and the heads (a sliver of the compute)."""
    convs = [node.name for node in graph.node if node.op_type == "Conv"][:FLOAT_CONVS]
    return convs + [node.name for node in graph.node if node.op_type in FLOAT_OPS]


def quantize_int8(onnx_path: Path, out_path: Path, photos: Sequence[bytes],
                  contract: PreprocessConfig) -> Path:
    """Write the int8 variant of ``onnx_path``; its metadata names it ``<version>-int8``."""
    if not photos:
        raise ValueError("int8 calibration needs catalogue photos")
    with tempfile.TemporaryDirectory(prefix="fashion-search-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(onnx_path), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared))
        kept = float_nodes(graph.graph)
        calibration = PhotoCalibration(photos, contract)
        onnx.save(correct_weight_rounding(graph, calibration.pixels, tc.PIXELS, skip=kept),
                  str(prepared))
        quantized = Path(tmp) / "int8.onnx"
        quantize_static(str(prepared), str(quantized), calibration,
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=kept)
        model = onnx.load(str(quantized))
        source = {p.key: p.value for p in onnx.load(str(onnx_path), load_external_data=False)
                  .metadata_props}
        source[f"{METADATA_PREFIX}model_version"] += SUFFIX
        del model.metadata_props[:]
        for key, value in source.items():
            model.metadata_props.add(key=key, value=value)
        with atomic_path(Path(out_path)) as staging:
            onnx.save(model, str(staging))
    log.info("int8 variant of %s in %s (%d calibration photos)", onnx_path, out_path, len(photos))
    return Path(out_path)
