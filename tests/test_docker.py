"""The deployment files agree with the project they deploy."""

import pytest
import tomllib
import yaml

from fashion_search.config import PROJECT_ROOT

pytestmark = pytest.mark.unit
DOCKER = PROJECT_ROOT / "docker"


def test_triton_image_installs_every_package_folder():
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    folders = set(pyproject["tool"]["setuptools"]["package-dir"].values())
    dockerfile = (DOCKER / "triton.Dockerfile").read_text()
    copied = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")}
    assert folders <= copied


def test_compose_wires_the_demo_to_triton_and_milvus():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"triton", "milvus", "demo"} <= set(services)
    env = services["demo"]["environment"]
    assert env["FASHION_SEARCH_TRITON_URL"] == "triton:8001"
    assert env["FASHION_SEARCH_MILVUS_URI"].startswith("http://milvus:")
    gpu = services["triton"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]
    assert "../artifacts/model_repository:/models:ro" in services["triton"]["volumes"]


def test_the_tensorrt_engine_cache_is_a_volume_and_the_image_can_decode_on_the_gpu():
    from fashion_search import triton_config as tc

    embedder = tc.read_config(PROJECT_ROOT / "triton_models" / tc.EMBEDDER / "config.pbtxt")
    accelerator = embedder.optimization.execution_accelerators.gpu_execution_accelerator[0]
    cache = dict(accelerator.parameters)["trt_engine_cache_path"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    mounts = {volume.split(":")[1]: volume.split(":")[0]
              for volume in compose["services"]["triton"]["volumes"]}
    assert mounts[cache] in compose["volumes"]
    dockerfile = (DOCKER / "triton.Dockerfile").read_text()
    assert "torchvision" in dockerfile  # the GPU preprocess instance decodes with nvJPEG through it


def test_the_demo_is_published_on_the_hosts_loopback_only():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert compose["services"]["demo"]["ports"] == ["127.0.0.1:7860:7860"]
