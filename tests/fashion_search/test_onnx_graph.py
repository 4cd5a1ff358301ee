"""onnxruntime runs on the GPU when onnxruntime-gpu can, on the CPU otherwise, and says so."""

import pytest

from fashion_search.batch_slices import SPINNING
from fashion_search.errors import RecipeError
from fashion_search.onnx_graph import CPU_PROVIDER, CUDA_PROVIDER, execution_providers, onnx_session

pytestmark = pytest.mark.unit

WITH_GPU = ["TensorrtExecutionProvider", CUDA_PROVIDER, CPU_PROVIDER]


def test_the_gpu_is_used_when_onnxruntime_gpu_offers_it():
    assert execution_providers("auto", WITH_GPU) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert execution_providers("cuda", WITH_GPU) == [CUDA_PROVIDER, CPU_PROVIDER]


def test_the_cpu_package_or_an_explicit_cpu_runs_on_the_cpu():
    assert execution_providers("auto", [CPU_PROVIDER]) == [CPU_PROVIDER]
    assert execution_providers("cpu", WITH_GPU) == [CPU_PROVIDER]


def test_asking_for_cuda_without_onnxruntime_gpu_says_what_to_install():
    with pytest.raises(RecipeError, match="install onnxruntime-gpu"):
        execution_providers("cuda", [CPU_PROVIDER])


def test_an_unknown_device_is_refused():
    with pytest.raises(RecipeError, match="one of"):
        execution_providers("tpu", WITH_GPU)


def _identity_graph(path):
    from onnx import TensorProto, helper, save

    tensor = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in "xy"]
    save(helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])],
                                             "identity", tensor[:1], tensor[1:])), path)
    return path


def test_a_session_that_shares_the_cores_with_decoding_does_not_spin(tmp_path):
    path = _identity_graph(tmp_path / "identity.onnx")
    quiet = onnx_session(path, device="cpu", spinning=False).get_session_options()
    assert quiet.get_session_config_entry(SPINNING) == "0"
    default = onnx_session(path, device="cpu").get_session_options()
    with pytest.raises(Exception, match=SPINNING):  # not set: onnxruntime's default, spinning
        default.get_session_config_entry(SPINNING)
