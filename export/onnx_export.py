"""PyTorch model -> one self-contained ONNX file with chosen names and a dynamic batch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import onnx
import torch

from fashion_search import triton_config as tc
from fashion_search.training.checkpoint import LoadedModel

log = logging.getLogger(__name__)

METADATA_PREFIX = "fashion_search."


def export_onnx(loaded: LoadedModel, path: Path, opset: int = 18) -> Path:
    """Export with tensor names from the serving contract; metadata carries preprocessing."""
    model = loaded.model.eval()
    size = loaded.preprocessing.size
    example = torch.randn(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (example,), dynamo=True, external_data=False, opset_version=opset,
            input_names=[tc.PIXELS], output_names=[tc.EMBEDDING],
            dynamic_shapes={"pixels": {0: batch}}, verbose=False,
        )
    proto = program.model_proto
    metadata = {
        "preprocessing": loaded.preprocessing.to_json(),
        "model_version": loaded.version,
        "backbone": loaded.backbone,
        "embedding_dim": str(loaded.model.embedding_dim),
        "metric": "COSINE",
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, value
    onnx.save_model(proto, str(tmp))
    onnx.checker.check_model(str(tmp))
    tmp.replace(path)
    log.info("exported %s (%s) to %s", loaded.version, loaded.backbone, path)
    return path


def read_metadata(path: Path) -> dict[str, str]:
    """The facts an exported file carries about itself."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key[len(METADATA_PREFIX):]: p.value for p in model.metadata_props
            if p.key.startswith(METADATA_PREFIX)}


def graph_signature(path: Path) -> dict[str, dict[str, list]]:
    """Input and output names with their dims (strings for symbolic axes)."""
    model = onnx.load(str(path), load_external_data=False)

    def dims(value) -> list:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    return {
        "inputs": {v.name: dims(v) for v in model.graph.input},
        "outputs": {v.name: dims(v) for v in model.graph.output},
    }
