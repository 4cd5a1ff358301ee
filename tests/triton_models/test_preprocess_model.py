"""The GPU deployment's preprocess model: it imports in Triton's own Python and batches requests."""

import importlib.util
import io
import json
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

from fashion_search import tensor_names, tensor_preprocessing
from fashion_search.config import PROJECT_ROOT
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.tensor_preprocessing import fit_batch, preprocess_batch

MODEL = PROJECT_ROOT / "triton_models" / "preprocess" / "1" / "model.py"
# In pyproject.toml's dependencies but not in the Triton image, which installs this package
# with numpy, Pillow, torch and torchvision only (docker/triton.Dockerfile).
ABSENT_THERE = ("tritonclient", "grpc", "rapidjson", "google.protobuf", "pymilvus", "milvus_lite",
                "gradio", "ray", "onnx", "onnxruntime", "onnxscript", "timm",
                "pytorch_metric_learning", "pytriton", "pandas", "tqdm", "matplotlib", "requests",
                "simplejpeg")


class FakeBackend(types.ModuleType):
    """The few pieces of ``triton_python_backend_utils`` the model uses, recorded."""

    class TritonError(Exception):
        INVALID_ARG = 3

        def __init__(self, message, code=None):
            super().__init__(message)
            self.code = code

    class Tensor:
        def __init__(self, name, array):
            self.name, self.array = name, np.asarray(array)

        @classmethod
        def from_dlpack(cls, name, capsule):
            import torch

            return cls(name, torch.from_dlpack(capsule).cpu().numpy())

    class InferenceResponse:
        def __init__(self, output_tensors=(), error=None):
            self.tensors = {t.name: t.array for t in output_tensors}
            self.error = error

    def __init__(self):
        super().__init__("triton_python_backend_utils")

    @staticmethod
    def get_input_tensor_by_name(request, name):
        return types.SimpleNamespace(as_numpy=lambda: request[name])


def jpeg(seed: int, size=(320, 240)) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)).save(out, "JPEG")
    return out.getvalue()


def request(*photos: bytes) -> dict:
    return {tensor_names.INPUT_BYTES: np.array([[p] for p in photos], dtype=object)}


@pytest.mark.unit
def test_the_model_imports_with_only_what_the_triton_image_installs(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(
        f"import sys\nfor name in {ABSENT_THERE!r}:\n    sys.modules[name] = None\n")
    (tmp_path / "triton_python_backend_utils.py").write_text("")
    loaded = subprocess.run(
        [sys.executable, "-c", "import importlib.util as u, sys; "
         f"s = u.spec_from_file_location('model', {str(MODEL)!r}); m = u.module_from_spec(s); "
         "s.loader.exec_module(m); import fashion_search.tensor_preprocessing; print('ok')"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
        env={"PYTHONPATH": f"{tmp_path}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"})
    assert loaded.stdout.strip() == "ok", loaded.stderr[-2000:]


@pytest.fixture
def initialised(monkeypatch):
    """Loads the model as Triton does and initialises an instance of the kind it is given."""
    monkeypatch.setitem(sys.modules, "triton_python_backend_utils", FakeBackend())
    monkeypatch.delitem(sys.modules, "fashion_search.serving.backend_errors", raising=False)
    spec = importlib.util.spec_from_file_location("preprocess_model", MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = {"input": [{"name": tensor_names.INPUT_BYTES}],
              "parameters": {tensor_names.PREPROCESSING_PARAM:
                             {"string_value": PreprocessConfig().to_json()}}}

    def initialise(kind: str = "CPU"):
        instance = module.TritonPythonModel()
        instance.initialize({"model_config": json.dumps(config), "model_instance_kind": kind,
                             "model_instance_device_id": "0"})
        return instance

    return initialise


@pytest.fixture
def model(initialised):
    return initialised("CPU")


@pytest.mark.unit
def test_a_gpu_instance_whose_device_cannot_work_fails_its_load_saying_why(initialised):
    with pytest.raises(RuntimeError, match=r"cannot decode and fit photos on cuda:0: .*(NVIDIA|CUDA)"):
        initialised("GPU")  # this machine has no GPU: the instance must not report ready


@pytest.fixture
def device_on_this_cpu(monkeypatch):
    """fit_batch for "cuda:0" runs on this CPU, through the real tensor path; the devices asked."""
    asked = []

    def on_cpu(photos, config, device="cpu", *args, **kwargs):
        asked.append(str(device))
        return fit_batch(photos, config, "cpu", *args, **kwargs)

    monkeypatch.setattr(tensor_preprocessing, "fit_batch", on_cpu)
    return asked


@pytest.mark.unit
def test_a_gpu_instance_whose_jpeg_decoder_refuses_fails_its_load(initialised, device_on_this_cpu,
                                                                monkeypatch):
    def refusing(encoded, device):
        raise RuntimeError("nvjpeg: NVJPEG_STATUS_NOT_INITIALIZED")

    monkeypatch.setattr(tensor_preprocessing, "_decode", refusing)
    # as on a GPU: the device's decoder, not the CPU's libjpeg-turbo, decodes the probe
    monkeypatch.setattr(tensor_preprocessing, "simplejpeg", None)
    with pytest.raises(RuntimeError, match=r"cannot decode JPEGs on cuda:0: .*nvJPEG.* refused"):
        initialised("GPU")  # the contract's PIL path would have hidden it
    assert device_on_this_cpu == ["cuda:0"]


@pytest.mark.unit
def test_a_gpu_instance_that_decodes_loads_and_a_cpu_one_never_touches_the_tensor_path(
        initialised, device_on_this_cpu):
    assert initialised("GPU").device == "cuda:0"
    assert device_on_this_cpu == ["cuda:0"]
    assert initialised("CPU").device is None
    assert device_on_this_cpu == ["cuda:0"]  # the CPU kind checks nothing more than before


@pytest.mark.unit
def test_the_gpu_path_answers_each_batched_request_with_its_own_photos(model):
    model.device = "cpu"  # the GPU instance's path (one decode for all requests), on this CPU
    first, second = [jpeg(0), jpeg(1)], [jpeg(2)]
    responses = model.execute([request(*first), request(*second)])
    contract = PreprocessConfig()
    for photos, response in zip((first, second), responses):
        assert response.error is None
        pixels, colours = preprocess_batch(photos, contract)
        np.testing.assert_array_equal(response.tensors[tensor_names.PIXELS], pixels.numpy())
        np.testing.assert_array_equal(response.tensors[tensor_names.COLOUR], colours)


@pytest.mark.unit
def test_a_bad_photo_fails_only_its_own_request_on_the_gpu_path(model):
    model.device = "cpu"
    good, bad = model.execute([request(jpeg(3)), request(b"not a photo")])
    assert good.error is None
    assert good.tensors[tensor_names.PIXELS].shape == (1, *PreprocessConfig().input_shape)
    assert bad.error.code == FakeBackend.TritonError.INVALID_ARG
    assert "not a readable image" in str(bad.error)
