"""The client tells a photo's fault from the server's, and splits what the server cannot take."""

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from fashion_search.client import EmbeddingClient
from fashion_search.errors import EmbeddingError, TritonFailure, TritonUnavailable


class Refusing:
    """Stands in for tritonclient's gRPC client: every call fails with one status."""

    def __init__(self, status: str, message: str):
        self.error = InferenceServerException(msg=message, status=status)

    def infer(self, *args, **kwargs):
        raise self.error

    def get_model_config(self, *args, **kwargs):
        raise self.error

    def close(self):
        pass


def refused_by(status: str, message: str) -> EmbeddingClient:
    client = EmbeddingClient("127.0.0.1:1")
    client._client = Refusing(status, message)
    return client


@pytest.mark.unit
def test_a_photo_the_server_calls_invalid_is_the_photos_fault_with_its_reason():
    client = refused_by("StatusCode.INVALID_ARGUMENT",
                        "in ensemble 'embed_image', image 0: the file is empty (0 bytes)")
    with pytest.raises(EmbeddingError) as caught:
        client._infer([b""])
    assert caught.value.reason == "the file is empty (0 bytes)"


@pytest.mark.unit
def test_a_photo_refusal_from_a_backend_without_error_codes_is_still_the_photos_fault():
    client = refused_by("StatusCode.INTERNAL", "image 0: not a readable image (12 bytes)")
    with pytest.raises(EmbeddingError, match="not a readable image"):
        client._infer([b"not a photo!"])


@pytest.mark.unit
def test_a_server_fault_is_never_taken_for_bad_photos():
    client = refused_by("StatusCode.INTERNAL",
                        "Stub process 'embed_image_0_0' is not healthy.\nmore detail")
    with pytest.raises(TritonFailure) as caught:
        client._infer([b"a", b"b"])
    assert not isinstance(caught.value, EmbeddingError)
    assert str(caught.value) == (
        "the Triton server at 127.0.0.1:1 failed on a batch of 2 photos (INTERNAL: "
        "Stub process 'embed_image_0_0' is not healthy.); its log says why; restart it if it "
        "persists")


@pytest.mark.unit
def test_a_request_triton_refuses_for_its_own_reasons_is_not_taken_for_bad_photos():
    client = refused_by("StatusCode.INVALID_ARGUMENT",
                        "Request for unknown model: 'embed_image' is not found")
    with pytest.raises(TritonFailure, match=r"\(INVALID_ARGUMENT: Request for unknown model: "
                                            r"'embed_image' is not found\); the request does "
                                            r"not fit the model it serves"):
        client._infer([b"a"])


@pytest.mark.unit
def test_a_server_that_is_up_without_the_model_is_not_called_unreachable():
    client = refused_by("StatusCode.NOT_FOUND", "Request for unknown model: 'embed_image'")
    with pytest.raises(TritonFailure, match="is up but does not serve 'embed_image'"):
        client.info()


@pytest.mark.unit
def test_a_server_that_cannot_be_reached_says_how_to_start_one():
    client = refused_by("StatusCode.UNAVAILABLE", "failed to connect to all addresses")
    with pytest.raises(TritonUnavailable, match="start it with `fashion-search serve`"):
        client.info()


@pytest.mark.integration
def test_more_photos_than_the_server_takes_at_once_come_back_in_order(client, products_dir):
    photos = [p.read_bytes() for p in sorted((products_dir / "images").glob("*.jpg"))]
    many = photos[:client.info().max_batch_size + 6]
    together = client.embed(many)
    assert together.shape == (len(many), client.info().dim)
    for index in (0, len(many) // 2, len(many) - 1):
        alone = client.embed([many[index]])[0]
        assert float(np.dot(together[index], alone)) > 0.9999


class GpuLayout:
    """Stands in for tritonclient's gRPC client on the GPU layout: the rendered configs of the
    committed templates, and an embedder that answers every request it is sent."""

    def __init__(self):
        from fashion_search import triton_config as tc
        from fashion_search.config import PROJECT_ROOT

        self.configs = {name: tc.read_config(PROJECT_ROOT / "triton_models" / name / "config.pbtxt")
                        for name in (tc.ENSEMBLE, tc.PREPROCESS, tc.EMBEDDER)}
        for name in (tc.ENSEMBLE, tc.EMBEDDER):
            tc.set_dims(tc.tensor(self.configs[name], tc.EMBEDDING, output=True), (4,))
        self.batches: list[int] = []

    def get_model_config(self, name, *args, **kwargs):
        return type("Response", (), {"config": self.configs[name]})()

    def infer(self, model, inputs, outputs=None, **kwargs):
        from fashion_search import triton_config as tc

        batch = inputs[0].shape()[0]
        if batch > self.configs[model].max_batch_size:
            raise InferenceServerException(
                msg=f"inference request batch-size must be <= "
                    f"{self.configs[model].max_batch_size} for '{model}'",
                status="StatusCode.INVALID_ARGUMENT")
        self.batches.append(batch)
        rows = np.full((batch, 4), 0.5, np.float32)
        return type("Result", (), {"as_numpy": lambda self, name: rows if name == tc.EMBEDDING
                                   else None})()

    def close(self):
        pass


@pytest.mark.unit
def test_on_the_gpu_layout_batches_fit_the_ensemble_not_its_embedding_step():
    server = GpuLayout()
    client = EmbeddingClient("127.0.0.1:1")
    client._client = server
    ensemble = server.configs[client.model].max_batch_size
    assert server.configs["embedder"].max_batch_size > ensemble  # the steps take more
    assert client.info().max_batch_size == ensemble
    vectors = client.embed([b"photo"] * (2 * ensemble + 3))
    assert vectors.shape == (2 * ensemble + 3, 4)
    assert server.batches == [ensemble, ensemble, 3]
