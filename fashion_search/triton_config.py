"""Typed Triton model configs, read from and written to ``config.pbtxt``.

The committed ``config.pbtxt`` files are the source of truth for names,
shapes and batching; this module parses them into Triton's own protobuf
``ModelConfig`` so code edits fields, never text.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from fashion_search.errors import RepositoryError
from fashion_search.files import write_text_atomic
from fashion_search.tensor_names import *  # noqa: F403 - the names, as tc.PIXELS and the like

ModelConfig = mc.ModelConfig



def read_config(path: Path) -> mc.ModelConfig:
    return text_format.Parse(Path(path).read_text(), mc.ModelConfig())


def config_to_text(config: mc.ModelConfig) -> str:
    return text_format.MessageToString(config)


def write_config(path: Path, config: mc.ModelConfig) -> None:
    """Write atomically so a crash never leaves a half-written config."""
    write_text_atomic(path, config_to_text(config))


def get_parameter(config: mc.ModelConfig, key: str, default: str | None = None) -> str | None:
    if key in config.parameters:
        return config.parameters[key].string_value
    return default


def set_parameter(config: mc.ModelConfig, key: str, value: str) -> None:
    config.parameters[key].string_value = value


def tensor(config: mc.ModelConfig, name: str, output: bool = False
           ) -> mc.ModelInput | mc.ModelOutput:
    """The input (or output) called ``name``; the error names what exists."""
    tensors = config.output if output else config.input
    for spec in tensors:
        if spec.name == name:
            return spec
    raise RepositoryError(f"{config.name} has no {'output' if output else 'input'} {name!r}: "
                   f"{[t.name for t in tensors]}")


def set_dims(spec: mc.ModelInput | mc.ModelOutput, dims: tuple[int, ...]) -> None:
    del spec.dims[:]
    spec.dims.extend(dims)


def set_optional_output(config: mc.ModelConfig, name: str, dims: list[int] | None) -> None:
    """Add output ``name`` (FP32, ``dims``) or remove it when ``dims`` is None."""
    kept = [spec for spec in config.output if spec.name != name]
    del config.output[:]
    config.output.extend(kept)
    if dims is not None:
        spec = config.output.add()
        spec.name = name
        spec.data_type = mc.TYPE_FP32
        spec.dims.extend(dims)


def ensemble_step(config: mc.ModelConfig, model: str) -> mc.ModelEnsembling.Step | None:
    for step in config.ensemble_scheduling.step:
        if step.model_name == model:
            return step
    raise RepositoryError(f"ensemble {config.name} has no step running {model!r}")


def cpu_variant(config: mc.ModelConfig, instances: int = 1, max_batch: int = 64,
                preferred: tuple[int, ...] = (), queue_delay_us: int = 0) -> mc.ModelConfig:
    """A GPU config turned into its CPU form, run by the Python backend.

    Same name and tensors; CPU instances and CPU-sized batches, and no GPU
    accelerator or warm-up (a CPU has nothing to build ahead).
    """
    cpu = mc.ModelConfig()
    cpu.CopyFrom(config)
    cpu.backend = "python"
    cpu.platform = ""
    cpu.max_batch_size = max_batch
    del cpu.instance_group[:]
    group = cpu.instance_group.add()
    group.kind = mc.ModelInstanceGroup.KIND_CPU
    group.count = instances
    del cpu.dynamic_batching.preferred_batch_size[:]
    cpu.dynamic_batching.preferred_batch_size.extend(size for size in preferred if size <= max_batch)
    cpu.dynamic_batching.max_queue_delay_microseconds = queue_delay_us
    cpu.ClearField("optimization")
    cpu.ClearField("model_warmup")
    return cpu


def fused_cpu_model(ensemble: mc.ModelConfig, preprocess: mc.ModelConfig,
                    embedder: mc.ModelConfig, instances: int = 2, max_batch: int = 64,
                    preferred: tuple[int, ...] = (), queue_delay_us: int = 0) -> mc.ModelConfig:
    """The ensemble's two stages as one CPU model, under the ensemble's name and interface.

    On a CPU both stages share the same cores, so handing 600 KB of pixels per
    photo from one Python process to another buys nothing and costs a copy and
    a round trip; the GPU deployment keeps the stages apart. Served without an
    ensemble in front, the model also sees which outputs a client asked for (an
    ensemble asks its steps for all of theirs), so it computes the colour
    descriptor only for the clients that want it.
    """
    fused = cpu_variant(embedder, instances, max_batch, preferred, queue_delay_us)
    fused.name = ensemble.name
    for field in ("input", "output"):
        del getattr(fused, field)[:]
        getattr(fused, field).extend(getattr(ensemble, field))
    for key in preprocess.parameters:
        if key not in fused.parameters:
            fused.parameters[key].CopyFrom(preprocess.parameters[key])
    return fused


def producer(ensemble: mc.ModelConfig, output: str) -> str:
    """The model of the ensemble step that produces ``output``."""
    for step in ensemble.ensemble_scheduling.step:
        if output in step.output_map.values():
            return step.model_name
    raise RepositoryError(f"no step of ensemble {ensemble.name} produces {output!r}")


def set_warmup_dims(config: mc.ModelConfig, name: str, dims: tuple[int, ...]) -> None:
    """Give input ``name`` of every warm-up sample the model's real dims."""
    for sample in config.model_warmup:
        if name in sample.inputs:
            set_dims(sample.inputs[name], dims)


TENSORRT_PROFILE = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")
TENSORRT_CACHE = "trt_engine_cache_path"


def tensorrt_accelerators(config: mc.ModelConfig
                          ) -> list[mc.ModelOptimizationPolicy.ExecutionAccelerators.Accelerator]:
    """The config's TensorRT execution accelerators (none, or one)."""
    accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator
    return [a for a in accelerators if a.name == "tensorrt"]


def key_tensorrt_cache(config: mc.ModelConfig, key: str) -> None:
    """Give the TensorRT engines of this model a cache folder of their own, ``key`` under the
    template's. ONNX Runtime names a cached engine by the graph's names and versions, not its
    weights, so a retrained model in the same folder would be served by the old engine."""
    for accelerator in tensorrt_accelerators(config):
        if accelerator.parameters.get(TENSORRT_CACHE):
            accelerator.parameters[TENSORRT_CACHE] = (
                f"{accelerator.parameters[TENSORRT_CACHE].rstrip('/')}/{key}")


def drop_tensorrt(config: mc.ModelConfig) -> None:
    """Remove the TensorRT accelerator, for a graph TensorRT does not take."""
    accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator
    kept = [a for a in accelerators if a.name != "tensorrt"]
    del accelerators[:]
    accelerators.extend(kept)


def set_tensorrt_profile(config: mc.ModelConfig, name: str, dims: tuple[int, ...]) -> None:
    """One TensorRT shape profile for input ``name``: batch 1 to the model's largest, tuned for
    its largest preferred batch. Without one, TensorRT builds an engine for the first shape it
    sees and rebuilds for every batch outside it (warm-up at 1, then 256: two builds)."""
    tensorrt = tensorrt_accelerators(config)
    if not tensorrt:
        return
    preferred = config.dynamic_batching.preferred_batch_size
    largest = config.max_batch_size
    for key, batch in zip(TENSORRT_PROFILE, (1, max(preferred, default=largest), largest)):
        tensorrt[0].parameters[key] = f"{name}:{'x'.join(map(str, (batch, *dims)))}"
