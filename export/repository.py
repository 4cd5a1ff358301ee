"""Render the Triton model repository: the committed templates plus one exported model.

``triton_models/`` holds templates: names, batching and placement, with the
model-dependent dims left open (-1). Rendering copies them into the build
folder, fills in the dims, the preprocessing contract and the model version
that the ONNX file carries, and places the file, so the served configs say how
the model was trained and the committed templates never change.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from pathlib import Path

import onnx

from fashion_search import colour
from fashion_search import triton_config as tc
from fashion_search.config import ENV_PREFIX, PREPROCESS_GPU_INSTANCES
from fashion_search.errors import ConfigError, RepositoryError
from fashion_search.files import atomic_dir
from fashion_search.onnx_graph import graph_signature, read_metadata

log = logging.getLogger(__name__)

MODELS = (tc.PREPROCESS, tc.EMBEDDER, tc.ENSEMBLE)


def check_against_graph(repository: Path, onnx_path: Path) -> None:
    """Raise if a config's tensor names or dims differ from the ONNX graph's."""
    signature = graph_signature(onnx_path)
    embedder = tc.read_config(repository / tc.EMBEDDER / "config.pbtxt")
    for kind, specs in (("inputs", embedder.input), ("outputs", embedder.output)):
        graph = signature[kind]
        names = {s.name for s in specs}
        if names != set(graph):
            raise RepositoryError(f"embedder {kind} {sorted(names)} != ONNX {sorted(graph)}")
        for spec in specs:
            dims = graph[spec.name]
            if not isinstance(dims[0], str):
                raise RepositoryError(f"ONNX {spec.name} has a fixed batch axis {dims[0]}")
            if list(spec.dims) != list(dims[1:]):
                raise RepositoryError(
                    f"embedder {spec.name} dims {list(spec.dims)} != ONNX {dims[1:]}"
                )
    inputs = signature["inputs"]
    for sample in embedder.model_warmup:
        for name, spec in sample.inputs.items():
            if name not in inputs or list(spec.dims) != list(inputs[name][1:]):
                raise RepositoryError(f"embedder warm-up {sample.name!r} feeds {name} "
                                      f"{list(spec.dims)}; the ONNX inputs are "
                                      f"{ {k: v[1:] for k, v in inputs.items()} }")
        if sample.batch_size > embedder.max_batch_size:
            raise RepositoryError(f"embedder warm-up {sample.name!r} sends a batch of "
                                  f"{sample.batch_size}, over max_batch_size "
                                  f"{embedder.max_batch_size}")
    for accelerator in embedder.optimization.execution_accelerators.gpu_execution_accelerator:
        for key in tc.TENSORRT_PROFILE:
            name, _, shape = accelerator.parameters.get(key, "").partition(":")
            if not shape:
                continue
            batch, *dims = (int(d) for d in shape.split("x"))
            if name not in inputs or dims != list(inputs[name][1:]) \
                    or not 1 <= batch <= embedder.max_batch_size:
                raise RepositoryError(f"embedder TensorRT {key} {accelerator.parameters[key]!r} "
                                      f"does not fit the ONNX inputs "
                                      f"{ {k: v[1:] for k, v in inputs.items()} } at batches up "
                                      f"to {embedder.max_batch_size}")


def render_configs(templates: Path, onnx_path: Path,
                   preprocess_instances: int = PREPROCESS_GPU_INSTANCES
                   ) -> dict[str, tc.ModelConfig]:
    """The three configs aligned with the graph and the facts in its metadata."""
    meta = read_metadata(onnx_path)
    signature = graph_signature(onnx_path)
    pixel_dims = signature["inputs"][tc.PIXELS][1:]
    embed_dims = signature["outputs"][tc.EMBEDDING][1:]
    configs = {name: tc.read_config(templates / name / "config.pbtxt") for name in MODELS}
    tc.set_dims(tc.tensor(configs[tc.PREPROCESS], tc.PIXELS, output=True), pixel_dims)
    tc.set_dims(tc.tensor(configs[tc.EMBEDDER], tc.PIXELS), pixel_dims)
    tc.set_warmup_dims(configs[tc.EMBEDDER], tc.PIXELS, pixel_dims)
    tc.set_tensorrt_profile(configs[tc.EMBEDDER], tc.PIXELS, pixel_dims)
    tc.set_dims(tc.tensor(configs[tc.EMBEDDER], tc.EMBEDDING, output=True), embed_dims)
    tc.set_dims(tc.tensor(configs[tc.ENSEMBLE], tc.EMBEDDING, output=True), embed_dims)
    for name in (tc.PREPROCESS, tc.ENSEMBLE):
        tc.set_dims(tc.tensor(configs[name], tc.COLOUR, output=True), (colour.DIM,))
    tc.set_parameter(configs[tc.EMBEDDER], tc.COLOUR_PARAM, colour.NAME)
    for group in configs[tc.PREPROCESS].instance_group:
        if group.kind == group.KIND_GPU:
            group.count = preprocess_instances
    tc.set_parameter(configs[tc.EMBEDDER], tc.TEMPLATES_PARAM,
                     templates_digest(templates, preprocess_instances))
    # A trained model also answers the category; the untuned one has no such output.
    probs = signature["outputs"].get(tc.CATEGORY_PROBS)
    probs_dims = probs[1:] if probs else None
    tc.set_optional_output(configs[tc.EMBEDDER], tc.CATEGORY_PROBS, probs_dims)
    tc.set_optional_output(configs[tc.ENSEMBLE], tc.CATEGORY_PROBS, probs_dims)
    step = tc.ensemble_step(configs[tc.ENSEMBLE], tc.EMBEDDER)
    step.output_map.pop(tc.CATEGORY_PROBS, None)
    if probs_dims:
        step.output_map[tc.CATEGORY_PROBS] = tc.CATEGORY_PROBS
    tc.set_parameter(configs[tc.EMBEDDER], tc.LABELS_PARAM, meta.get("labels", "[]"))
    tc.set_parameter(configs[tc.EMBEDDER], tc.SAME_ITEM_PARAM, meta.get("same_item", ""))
    for name in (tc.PREPROCESS, tc.EMBEDDER):
        tc.set_parameter(configs[name], tc.PREPROCESSING_PARAM, meta["preprocessing"])
    tc.set_parameter(configs[tc.EMBEDDER], tc.MODEL_VERSION_PARAM, meta["model_version"])
    tc.set_parameter(configs[tc.EMBEDDER], tc.METRIC_PARAM, meta["metric"])
    tc.key_tensorrt_cache(configs[tc.EMBEDDER], engine_key(meta["model_version"], onnx_path))
    fit_precision(configs[tc.EMBEDDER], onnx_path)
    return configs


def engine_key(version: str, onnx_path: Path) -> str:
    """The model version and a digest of its file: a retrained model, even one that kept its
    version, never finds the engine TensorRT built for another."""
    digest = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', version)}-{digest}"


def is_quantized(onnx_path: Path) -> bool:
    """Whether the graph is the int8 variant (QDQ pairs, export/quantize.py)."""
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)


def cuda_visible() -> bool:
    """Whether this machine has a CUDA GPU (the GPU deployment renders on its GPU host)."""
    import torch

    return torch.cuda.is_available()


def fit_precision(embedder: tc.ModelConfig, onnx_path: Path) -> None:
    """Keep the int8 graph away from TensorRT, which does not take its asymmetric uint8 QDQ.

    On a GPU machine the rendered repository is the GPU deployment's, so the int8 graph is
    refused; elsewhere it is for the CPU server, which runs no TensorRT, and the accelerator
    is dropped so that the built repository cannot hand it to TensorRT later.
    """
    if not tc.tensorrt_accelerators(embedder) or not is_quantized(onnx_path):
        return
    if cuda_visible():
        raise ConfigError(
            f"{ENV_PREFIX}PRECISION=int8 gives an int8 graph for the CPU server (asymmetric "
            "uint8 QDQ), which TensorRT does not take, and the GPU deployment's embedder runs "
            f"TensorRT at FP16; unset {ENV_PREFIX}PRECISION (or set it to float32) and export "
            "again for the GPU")
    log.warning("the int8 graph is for the CPU server: its built repository has no TensorRT "
                "accelerator")
    tc.drop_tensorrt(embedder)


def templates_digest(templates: Path, preprocess_instances: int = PREPROCESS_GPU_INSTANCES
                     ) -> str:
    """A short hash of the templates and the layout settings rendered into them, so a build
    from older templates, or with another instance count, counts as stale."""
    digest = hashlib.sha256(f"preprocess instances {preprocess_instances}".encode())
    for path in sorted(Path(templates).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(templates).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def check_build_target(templates: Path, target: Path) -> None:
    """Refuse, before any work, a build that would overwrite the committed templates."""
    missing = [m for m in MODELS if not (Path(templates) / m / "config.pbtxt").is_file()]
    if missing:
        raise RepositoryError(f"{templates} is not the Triton templates folder (no config for "
                              f"{', '.join(missing)}); run from a checkout of the project")
    if Path(templates).resolve() == Path(target).resolve():
        raise RepositoryError(f"the built repository must not be the templates folder {templates}; "
                              f"point {ENV_PREFIX}MODEL_REPOSITORY elsewhere or leave it unset")


def render_repository(templates: Path, onnx_path: Path, target: Path,
                      preprocess_instances: int = PREPROCESS_GPU_INSTANCES) -> Path:
    """Build ``target`` from ``templates`` and ``onnx_path``; it replaces the old one whole."""
    templates, target = Path(templates), Path(target)
    check_build_target(templates, target)
    configs = render_configs(templates, onnx_path, preprocess_instances)
    with atomic_dir(target) as staging:
        for name in MODELS:
            shutil.copytree(templates / name, staging / name,
                            ignore=shutil.ignore_patterns("__pycache__", ".gitkeep", "*.onnx"))
            tc.write_config(staging / name / "config.pbtxt", configs[name])
        model = staging / tc.EMBEDDER / "1" / "model.onnx"
        model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(onnx_path, model)
        check_against_graph(staging, model)
    log.info("rendered the Triton repository for %s in %s",
             tc.get_parameter(configs[tc.EMBEDDER], tc.MODEL_VERSION_PARAM), target)
    return target / tc.EMBEDDER / "1" / "model.onnx"


def built_version(repository: Path, templates: Path | None = None,
                  preprocess_instances: int = PREPROCESS_GPU_INSTANCES) -> str | None:
    """The model version a built repository serves, or None when it is not built.

    With ``templates``, a repository rendered from other templates counts as
    not built, so a change to the serving layout is rebuilt, not served stale.
    """
    config = Path(repository) / tc.EMBEDDER / "config.pbtxt"
    if not config.is_file() or not (config.parent / "1" / "model.onnx").is_file():
        return None
    parsed = tc.read_config(config)
    if templates is not None and (tc.get_parameter(parsed, tc.TEMPLATES_PARAM)
                                  != templates_digest(templates, preprocess_instances)):
        return None
    return tc.get_parameter(parsed, tc.MODEL_VERSION_PARAM)
