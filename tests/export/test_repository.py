"""The rendered GPU configs key the TensorRT engine cache by the model and keep int8 from
TensorRT; a tiny graph stands in for the exported model."""

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fashion_search import triton_config as tc
from fashion_search.config import PROJECT_ROOT
from fashion_search.errors import ConfigError
from fashion_search.export import repository
from fashion_search.onnx_graph import METADATA_PREFIX
from fashion_search.preprocessing import PreprocessConfig

pytestmark = pytest.mark.unit
TEMPLATES = PROJECT_ROOT / "triton_models"
VERSION = "efficientnet_lite0-trained-0123abcd"


def tiny_graph(path: Path, weight: float = 1.0, int8: bool = False,
               version: str = VERSION) -> Path:
    """pixel_values (batch, 3, 8, 8) -> embedding (batch, 3), with the export's metadata;
    ``int8`` adds the uint8 QDQ pair the int8 export writes."""
    nodes, source = [], tc.PIXELS
    inits = [numpy_helper.from_array(np.full((1, 3, 1, 1), weight, np.float32), "weight")]
    if int8:
        inits += [numpy_helper.from_array(np.array(0.02, np.float32), "scale"),
                  numpy_helper.from_array(np.array(128, np.uint8), "zero")]
        nodes += [helper.make_node("QuantizeLinear", [source, "scale", "zero"], ["q"]),
                  helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["dq"])]
        source = "dq"
    nodes += [helper.make_node("Mul", [source, "weight"], ["scaled"]),
              helper.make_node("GlobalAveragePool", ["scaled"], ["pooled"]),
              helper.make_node("Flatten", ["pooled"], [tc.EMBEDDING])]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info(tc.PIXELS, TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info(tc.EMBEDDING, TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    for key, value in (("model_version", version), ("metric", "COSINE"),
                       ("preprocessing", PreprocessConfig().to_json())):
        model.metadata_props.add(key=METADATA_PREFIX + key, value=value)
    onnx.save(model, str(path))
    return path


def cache_path(config: tc.ModelConfig) -> str:
    return tc.tensorrt_accelerators(config)[0].parameters[tc.TENSORRT_CACHE]


def test_the_engine_cache_is_a_folder_of_its_own_per_model_under_the_volume(tmp_path):
    template = cache_path(tc.read_config(TEMPLATES / tc.EMBEDDER / "config.pbtxt"))
    first = repository.render_configs(TEMPLATES, tiny_graph(tmp_path / "a.onnx"))[tc.EMBEDDER]
    again = repository.render_configs(TEMPLATES, tiny_graph(tmp_path / "b.onnx"))[tc.EMBEDDER]
    retrained = repository.render_configs(
        TEMPLATES, tiny_graph(tmp_path / "c.onnx", weight=2.0))[tc.EMBEDDER]
    paths = [cache_path(config) for config in (first, again, retrained)]
    assert all(Path(path).parent == Path(template) for path in paths)  # on the volume
    assert all(Path(path).name.startswith(VERSION + "-") for path in paths)
    assert paths[0] == paths[1]  # the same model finds the engine built for it
    assert paths[2] != paths[0]  # new weights under the same version: a new engine


def test_the_int8_graph_is_refused_for_the_gpus_tensorrt_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setattr(repository, "cuda_visible", lambda: True, raising=False)
    int8 = tiny_graph(tmp_path / "int8.onnx", int8=True, version=VERSION + "-int8")
    with pytest.raises(ConfigError, match="FASHION_SEARCH_PRECISION=int8 .* TensorRT does not take.*"
                                          "set it to float32"):
        repository.render_repository(TEMPLATES, int8, tmp_path / "built")
    assert not (tmp_path / "built").exists()
    float32 = tiny_graph(tmp_path / "float.onnx")
    embedder = repository.render_configs(TEMPLATES, float32)[tc.EMBEDDER]
    assert tc.tensorrt_accelerators(embedder)  # float32 still goes to TensorRT


def test_without_a_gpu_the_int8_build_is_for_the_cpu_server_and_has_no_tensorrt(tmp_path,
                                                                                monkeypatch):
    monkeypatch.setattr(repository, "cuda_visible", lambda: False, raising=False)
    int8 = tiny_graph(tmp_path / "int8.onnx", int8=True, version=VERSION + "-int8")
    repository.render_repository(TEMPLATES, int8, tmp_path / "built")
    embedder = tc.read_config(tmp_path / "built" / tc.EMBEDDER / "config.pbtxt")
    assert not tc.tensorrt_accelerators(embedder)
    assert repository.built_version(tmp_path / "built") == VERSION + "-int8"


def test_the_preprocess_instances_per_gpu_are_rendered_and_a_change_rebuilds(tmp_path):
    from fashion_search.config import PREPROCESS_GPU_INSTANCES

    graph = tiny_graph(tmp_path / "model.onnx")
    repository.render_repository(TEMPLATES, graph, tmp_path / "built")
    built = tc.read_config(tmp_path / "built" / tc.PREPROCESS / "config.pbtxt")
    assert [(g.kind, g.count) for g in built.instance_group] == [
        (built.instance_group[0].KIND_GPU, PREPROCESS_GPU_INSTANCES)]
    assert repository.built_version(tmp_path / "built", TEMPLATES) == VERSION
    # another count is another layout: the built repository is stale, not served
    assert repository.built_version(tmp_path / "built", TEMPLATES, 8) is None
    repository.render_repository(TEMPLATES, graph, tmp_path / "built", preprocess_instances=8)
    assert tc.read_config(tmp_path / "built" / tc.PREPROCESS / "config.pbtxt"
                          ).instance_group[0].count == 8
    assert repository.built_version(tmp_path / "built", TEMPLATES, 8) == VERSION


def test_the_instance_count_comes_from_the_environment_and_a_bad_one_is_refused(monkeypatch):
    from fashion_search.config import Settings

    monkeypatch.setenv("FASHION_SEARCH_PREPROCESS_GPU_INSTANCES", "6")
    assert Settings().preprocess_gpu_instances == 6
    monkeypatch.setenv("FASHION_SEARCH_PREPROCESS_GPU_INSTANCES", "0")
    with pytest.raises(ConfigError, match="PREPROCESS_GPU_INSTANCES is '0'; give a whole number"):
        Settings()
