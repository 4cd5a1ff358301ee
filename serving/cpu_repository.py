"""The runtime copies a CPU server loads: the built repositories with onnxruntime inside
the Python backend, since the ``tritonserver`` of the wheel has no other backend.

The embedder's repository is the first ``--model-repository``; the garment
finder's, when one is built, a second. On a CPU the finder, like the embedder,
runs as one model that decodes, fits and runs the network (``cpu_embedder.py``
serves any graph that takes the contract's pixels), under the ensemble's name.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from fashion_search import triton_config as tc
from fashion_search.errors import ServerError
from fashion_search.files import atomic_dir

if TYPE_CHECKING:
    from fashion_search.serving.serve import ServerOptions

log = logging.getLogger(__name__)

CPU_INSTANCES = 1  # a query asks for one photo's garments; two would halve each one's cores


def build_cpu_repository(source: Path, target: Path, options: ServerOptions) -> Path:
    """Runtime copy of the built repository for a CPU: onnxruntime inside the Python backend.

    Layout "fused" (the default) serves one model that decodes and embeds under the
    ensemble's name and interface; "stages" keeps the GPU deployment's ensemble of two.
    """
    onnx_file = source / tc.EMBEDDER / "1" / "model.onnx"
    if not onnx_file.is_file():
        raise ServerError(
            f"{onnx_file} is missing: the model repository {source} is not built; build it "
            "with `fashion-search export`"
        )
    pre = tc.read_config(source / tc.PREPROCESS / "config.pbtxt")
    embedder = tc.read_config(source / tc.EMBEDDER / "config.pbtxt")
    ensemble = tc.read_config(source / tc.ENSEMBLE / "config.pbtxt")
    with atomic_dir(target) as staging:
        if options.cpu_layout == "fused":
            name = tc.ENSEMBLE
            config = tc.fused_cpu_model(ensemble, pre, embedder, options.fused_instances,
                                        options.cpu_max_batch, options.cpu_preferred_batches,
                                        options.cpu_queue_delay_us)
        else:
            name = tc.EMBEDDER
            (staging / tc.ENSEMBLE / "1").mkdir(parents=True)
            tc.write_config(staging / tc.ENSEMBLE / "config.pbtxt", ensemble)
            shutil.copytree(source / tc.PREPROCESS, staging / tc.PREPROCESS,
                            ignore=shutil.ignore_patterns("__pycache__", ".gitkeep"))
            tc.write_config(staging / tc.PREPROCESS / "config.pbtxt",
                            tc.cpu_variant(pre, options.preprocess_instances, options.cpu_max_batch,
                                           queue_delay_us=options.cpu_queue_delay_us))
            config = tc.cpu_variant(embedder, options.embedder_instances, options.cpu_max_batch,
                                    options.cpu_preferred_batches, options.cpu_queue_delay_us)
        place_python_model(staging / name, config, onnx_file)
    return target


def place_python_model(folder: Path, config: tc.ModelConfig, onnx_file: Path) -> None:
    """A Python-backend model that runs ``onnx_file`` with onnxruntime (``cpu_embedder.py``)."""
    model_dir = folder / "1"
    model_dir.mkdir(parents=True)
    tc.write_config(folder / "config.pbtxt", config)
    shutil.copy2(Path(__file__).with_name("cpu_embedder.py"), model_dir / "model.py")
    try:  # a link: the graph is not copied on every start
        os.link(onnx_file, model_dir / "model.onnx")
    except OSError:
        shutil.copy2(onnx_file, model_dir / "model.onnx")


def build_cpu_finder(source: Path, target: Path, max_batch: int = 16) -> Path:
    """Runtime copy of the finder's built repository for a CPU server."""
    onnx_file = source / tc.FINDER_NETWORK / "1" / "model.onnx"
    ensemble = tc.read_config(source / tc.FINDER / "config.pbtxt")
    pre = tc.read_config(source / tc.FINDER_PREPROCESS / "config.pbtxt")
    network = tc.read_config(source / tc.FINDER_NETWORK / "config.pbtxt")
    with atomic_dir(target) as staging:
        config = tc.fused_cpu_model(ensemble, pre, network, CPU_INSTANCES, max_batch)
        place_python_model(staging / tc.FINDER, config, onnx_file)
    return target


def finder_repository(built: Path, work_dir: Path, cpu: bool) -> list[str]:
    """The server's extra ``--model-repository`` flag for the finder, none when it is not built."""
    if not (built / tc.FINDER_NETWORK / "1" / "model.onnx").is_file():
        log.info("no garment finder is built (%s); serving the embedder alone", built)
        return []
    repository = build_cpu_finder(built, work_dir / "garment_repository") if cpu else built
    return [f"--model-repository={repository}"]
