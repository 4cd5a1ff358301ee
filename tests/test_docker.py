"""The deployment files agree with the project they deploy."""

import runpy

import pytest
import tomllib
import yaml

from fashion_search.config import PROJECT_ROOT

pytestmark = pytest.mark.unit
DOCKER = PROJECT_ROOT / "docker"


def _ignored() -> set[str]:
    return {line.strip().rstrip("/") for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def _pins(*names: str) -> list[str]:
    return runpy.run_path(str(DOCKER / "pins.py"))["pins"](list(names))


def test_both_images_install_the_whole_checkout_so_every_component_folder():
    from fashion_search.components import package_dirs

    for image in ("triton", "demo"):
        dockerfile = (DOCKER / f"{image}.Dockerfile").read_text()
        assert "COPY . ." in dockerfile and "pip install --no-cache-dir" in dockerfile, image
    assert not set(package_dirs().values()) & _ignored()


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


def test_the_triton_image_installs_the_pinned_torch_and_the_jpeg_decoder_on_a_cuda_13_base():
    dockerfile = (DOCKER / "triton.Dockerfile").read_text()
    names = dockerfile.split("python3 docker/pins.py ", 1)[1].split(")", 1)[0].split()
    assert {"torch", "torchvision", "simplejpeg"} <= set(names)
    pins = _pins("torch", "torchvision")
    assert all("==" in pin for pin in pins), pins  # the versions the parity was measured with
    release = dockerfile.split("tritonserver:")[1].split("-py3")[0]
    assert tuple(map(int, release.split("."))) >= (25, 8)  # CUDA 13 from 25.08, as the wheels


def test_services_wait_for_what_they_need_and_publish_on_loopback_only():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert services["demo"]["depends_on"]["milvus"]["condition"] == "service_healthy"
    assert "healthz" in " ".join(services["milvus"]["healthcheck"]["test"])
    assert services["triton"]["healthcheck"]["start_period"] == "15m"
    for name in ("triton", "milvus", "demo"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name


def test_the_images_leave_the_environment_and_artifacts_out():
    assert {".venv", "artifacts", ".git"} <= _ignored()


def test_the_triton_container_has_shared_memory_for_the_largest_request():
    from fashion_search import triton_config as tc
    from fashion_search.images import MAX_BYTES

    ensemble = tc.read_config(PROJECT_ROOT / "triton_models" / tc.ENSEMBLE / "config.pbtxt")
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    size = compose["services"]["triton"]["shm_size"]
    assert size.endswith("g") and int(size[:-1]) * 2**30 >= ensemble.max_batch_size * MAX_BYTES


def test_the_photos_users_put_beside_the_checkout_stay_out_of_the_images():
    assert {"catalog", "**/*.jpg"} <= _ignored()


def test_the_demo_image_installs_what_the_demo_imports_and_no_model_machinery():
    import re

    assert "pip install --no-cache-dir .\n" in (DOCKER / "demo.Dockerfile").read_text()  # no extra
    installed = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!\[ ]", line, maxsplit=1)[0].lower() for line in installed}
    assert {"gradio", "pymilvus", "tritonclient", "numpy", "pillow"} <= names
    assert not names & {"torch", "torchvision", "timm", "nvidia-pytriton", "milvus-lite",
                        "onnxruntime", "onnx"}


def test_the_pins_script_refuses_a_name_the_project_does_not_depend_on():
    with pytest.raises(SystemExit, match="names no tensorflow"):
        _pins("torch", "tensorflow")


def test_the_demo_runs_its_step_with_torch_and_the_server_packages_unimportable(tmp_path):
    """What the demo image lacks is unimportable; the CLI and the demo step still load, and with
    a Triton server up the demo takes the model it serves instead of loading one."""
    import subprocess
    import sys

    absent = ("torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxscript", "pytriton",
              "milvus_lite", "pytorch_metric_learning", "matplotlib")
    (tmp_path / "sitecustomize.py").write_text(
        f"import sys\nfor name in {absent!r}:\n    sys.modules[name] = None\n")
    script = (
        "import fashion_search.cli\n"
        "from fashion_search.demo import run\n"
        "from fashion_search.config import Settings\n"
        "class Up:\n"
        "    def __init__(self, *args, **kwargs): pass\n"
        "    def is_ready(self): return True\n"
        "    def info(self): return type('Info', (), {'version': 'v1-served'})()\n"
        "    def close(self): pass\n"
        "run.EmbeddingClient = Up\n"
        "served = run.served_model(None, False, Settings(triton_url='triton:8001'))\n"
        "assert served.version == 'v1-served' and not served.exported, served\n"
        "import sys; assert sys.modules.get('torch') is None\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=PROJECT_ROOT,
                          env={"PYTHONPATH": f"{tmp_path}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin",
                               "HOME": str(tmp_path)})
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
