"""PyTorch model -> one self-contained ONNX file with chosen names and a dynamic batch."""

from __future__ import annotations

import inspect
import json
import logging
import warnings
from pathlib import Path

import onnx
import torch

from fashion_search import triton_config as tc
from fashion_search.training.checkpoint import LoadedModel

log = logging.getLogger(__name__)

METADATA_PREFIX = "fashion_search."


def export_module(
    module: torch.nn.Module, example: torch.Tensor, path: Path, input_name: str,
    output_names: list[str], metadata: dict[str, str] | None = None, opset: int = 18,
) -> Path:
    """One self-contained ONNX file with a dynamic batch axis, written atomically."""
    batch = torch.export.Dim("batch", min=1, max=1024)
    argument = next(iter(inspect.signature(module.forward).parameters))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".onnx.tmp")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module.eval(), (example,), dynamo=True, external_data=False, opset_version=opset,
            input_names=[input_name], output_names=output_names,
            dynamic_shapes={argument: {0: batch}}, verbose=False,
        )
    proto = program.model_proto
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_PREFIX + key, value
    onnx.save_model(proto, str(tmp))
    onnx.checker.check_model(str(tmp))
    tmp.replace(path)
    return path


def export_onnx(loaded: LoadedModel, path: Path, opset: int = 18) -> Path:
    """Export with tensor names from the serving contract; metadata carries preprocessing."""
    outputs = [tc.EMBEDDING] + ([tc.CATEGORY_PROBS] if loaded.labels else [])
    metadata = {
        "preprocessing": loaded.preprocessing.to_json(),
        "model_version": loaded.version,
        "backbone": loaded.backbone,
        "embedding_dim": str(loaded.model.embedding_dim),
        "metric": "COSINE",
        "labels": json.dumps(loaded.labels),
    }
    export_module(loaded.model, torch.randn(2, *loaded.preprocessing.input_shape), path, tc.PIXELS, outputs,
                  metadata, opset)
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
