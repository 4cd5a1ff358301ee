"""Triton configs parse, and the CPU embedder keeps the GPU one's interface."""

import pytest

from fashion_search import triton_config as tc
from fashion_search.config import PROJECT_ROOT
from fashion_search.errors import RepositoryError

pytestmark = pytest.mark.unit
REPO = PROJECT_ROOT / "triton_models"


def test_cpu_variant_keeps_names_and_shapes_with_cpu_batching():
    gpu = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    cpu = tc.cpu_variant(gpu, instances=2, max_batch=64, preferred=(16, 32, 128))
    assert gpu.backend == "onnxruntime" and gpu.instance_group[0].kind == gpu.instance_group[0].KIND_GPU
    assert cpu.backend == "python" and cpu.instance_group[0].kind == cpu.instance_group[0].KIND_CPU
    assert cpu.instance_group[0].count == 2
    assert [(t.name, list(t.dims)) for t in cpu.input] == [(t.name, list(t.dims)) for t in gpu.input]
    assert [(t.name, list(t.dims)) for t in cpu.output] == [(t.name, list(t.dims)) for t in gpu.output]
    assert cpu.max_batch_size == 64
    assert list(cpu.dynamic_batching.preferred_batch_size) == [16, 32]  # none over the maximum
    assert gpu.dynamic_batching.max_queue_delay_microseconds > 0
    assert cpu.dynamic_batching.max_queue_delay_microseconds == 0  # a lone query is not held
    assert not cpu.HasField("optimization") and not cpu.model_warmup


def test_cpu_variant_takes_the_queue_delay_it_is_given():
    gpu = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    assert tc.cpu_variant(gpu, queue_delay_us=500).dynamic_batching.max_queue_delay_microseconds == 500


def test_gpu_embedder_runs_tensorrt_fp16_with_a_cache_and_batches_that_fill_a_gpu():
    gpu = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    assert gpu.backend == "onnxruntime" and gpu.max_batch_size >= 256
    accelerators = gpu.optimization.execution_accelerators.gpu_execution_accelerator
    assert [a.name for a in accelerators] == ["tensorrt"]
    params = dict(accelerators[0].parameters)
    assert params["precision_mode"] == "FP16"
    assert params["trt_engine_cache_enable"] == "1" and params["trt_engine_cache_path"]
    preferred = list(gpu.dynamic_batching.preferred_batch_size)
    assert preferred == sorted(preferred) and max(preferred) == gpu.max_batch_size
    # warm-up builds the engine for the smallest and the largest batch before traffic
    assert sorted(w.batch_size for w in gpu.model_warmup) == [1, gpu.max_batch_size]
    assert all(set(w.inputs) == {tc.PIXELS} and w.inputs[tc.PIXELS].zero_data
               for w in gpu.model_warmup)


def test_gpu_preprocess_batches_photos_on_a_gpu_instance():
    pre = tc.read_config(REPO / tc.PREPROCESS / "config.pbtxt")
    assert pre.backend == "python"
    assert pre.instance_group[0].kind == pre.instance_group[0].KIND_GPU
    assert pre.max_batch_size >= 256
    cpu = tc.cpu_variant(pre, instances=3, max_batch=64)
    assert cpu.instance_group[0].kind == cpu.instance_group[0].KIND_CPU
    assert cpu.instance_group[0].count == 3 and cpu.max_batch_size == 64


def test_ensemble_wires_bytes_through_preprocess_to_embedding():
    ensemble = tc.read_config(REPO / tc.ENSEMBLE / "config.pbtxt")
    pre = tc.read_config(REPO / tc.PREPROCESS / "config.pbtxt")
    emb = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    steps = [s.model_name for s in ensemble.ensemble_scheduling.step]
    assert steps == [tc.PREPROCESS, tc.EMBEDDER]
    assert ensemble.input[0].name == pre.input[0].name == tc.INPUT_BYTES
    assert pre.output[0].name == emb.input[0].name == tc.PIXELS
    assert list(pre.output[0].dims) == list(emb.input[0].dims)
    assert list(ensemble.output[0].dims) == list(emb.output[0].dims)
    assert ensemble.max_batch_size <= min(pre.max_batch_size, emb.max_batch_size)


def test_config_text_round_trips(tmp_path):
    config = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    tc.set_parameter(config, "model_version", "x-1")
    tc.write_config(tmp_path / "config.pbtxt", config)
    again = tc.read_config(tmp_path / "config.pbtxt")
    assert again == config and tc.get_parameter(again, "model_version") == "x-1"


def test_templates_leave_every_model_fact_to_the_build():
    """The committed configs repeat neither the contract nor a model version: a build fills them."""
    for name in (tc.PREPROCESS, tc.EMBEDDER, tc.ENSEMBLE):
        config = tc.read_config(REPO / name / "config.pbtxt")
        assert not set(config.parameters) & {tc.PREPROCESSING_PARAM, tc.MODEL_VERSION_PARAM,
                                             tc.LABELS_PARAM}, name
    embedder = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    assert list(tc.tensor(embedder, tc.PIXELS).dims) == [3, -1, -1]
    assert list(tc.tensor(embedder, tc.EMBEDDING, output=True).dims) == [-1]


def test_the_fused_cpu_model_is_the_ensemble_to_clients_and_carries_both_stages_facts():
    ensemble = tc.read_config(REPO / tc.ENSEMBLE / "config.pbtxt")
    pre = tc.read_config(REPO / tc.PREPROCESS / "config.pbtxt")
    emb = tc.read_config(REPO / tc.EMBEDDER / "config.pbtxt")
    tc.set_parameter(pre, tc.PREPROCESSING_PARAM, "{}")
    tc.set_parameter(emb, tc.MODEL_VERSION_PARAM, "m-1")
    fused = tc.fused_cpu_model(ensemble, pre, emb, instances=2, max_batch=32, queue_delay_us=0)
    assert fused.name == tc.ENSEMBLE and fused.backend == "python"
    assert not fused.platform and not fused.HasField("ensemble_scheduling")
    assert list(fused.input) == list(ensemble.input)
    assert list(fused.output) == list(ensemble.output)
    assert [t.name for t in fused.output] == [tc.EMBEDDING, tc.COLOUR]
    assert tc.get_parameter(fused, tc.PREPROCESSING_PARAM) == "{}"
    assert tc.get_parameter(fused, tc.MODEL_VERSION_PARAM) == "m-1"
    assert fused.instance_group[0].count == 2 and fused.max_batch_size == 32
    assert fused.instance_group[0].kind == fused.instance_group[0].KIND_CPU


def test_the_producer_of_an_ensemble_output_is_the_step_that_maps_it():
    ensemble = tc.read_config(REPO / tc.ENSEMBLE / "config.pbtxt")
    assert tc.producer(ensemble, tc.EMBEDDING) == tc.EMBEDDER
    assert tc.producer(ensemble, tc.COLOUR) == tc.PREPROCESS
    with pytest.raises(RepositoryError, match="produces 'nothing'"):
        tc.producer(ensemble, "nothing")
