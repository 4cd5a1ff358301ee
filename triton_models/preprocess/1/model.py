"""Triton Python backend: encoded image bytes -> the embedder's pixels and a colour descriptor.

It runs the project's preprocessing with the contract that the exported model
carries in this model's config, so the server decodes and fits photos as
training did; the colour descriptor comes from the same decoded photo.

On a GPU instance (``KIND_GPU``, the GPU deployment) every photo of the
requests Triton batched together is decoded by nvJPEG and fitted by torch on
that GPU in one go (``fashion_search.tensor_preprocessing``, checked against
the contract by ``fashion-search bench --suite preprocessing``), and the
pixels stay on the GPU for the embedder; before such an instance is ready it
decodes and fits one small JPEG there, so a GPU path that cannot work fails
the load. On a CPU instance it runs the contract's own PIL code, photo by photo.

A photo that cannot be used fails its request with INVALID_ARGUMENT and the
contract's message; other requests of the same batch are answered.
"""

import json

import triton_python_backend_utils as pb_utils

from fashion_search import tensor_names
from fashion_search.errors import ImageError
from fashion_search.preprocessing import PreprocessConfig, preprocess_photos
from fashion_search.serving.backend_errors import client_error


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = config.get("parameters", {})
        self.contract = PreprocessConfig.from_json(params[tensor_names.PREPROCESSING_PARAM]["string_value"])
        self.input_name = config["input"][0]["name"]
        self.device = None
        if args.get("model_instance_kind") == "GPU":
            self.device = f"cuda:{args['model_instance_device_id']}"
            self._check_device()

    def _check_device(self):
        """Decode and fit one small JPEG on the device, so that a GPU path that cannot start
        (no driver, a torch without CUDA, nvJPEG missing) fails the load: otherwise Triton
        reports the model ready and every request fails."""
        import io

        from PIL import Image

        from fashion_search.tensor_preprocessing import fit_batch

        photo = io.BytesIO()
        Image.new("RGB", (64, 48), (200, 120, 40)).save(photo, "JPEG")
        tally = {}
        try:
            fitted = fit_batch([photo.getvalue()], self.contract, self.device, tally=tally)
            fitted.cpu()  # waits for the device's work, so a failure there shows here
        except Exception as err:  # noqa: BLE001 - whatever it is, the instance cannot serve
            raise RuntimeError(f"the preprocess model cannot decode and fit photos on "
                               f"{self.device}: {type(err).__name__}: {err}") from err
        if not tally.get("decoder"):
            raise RuntimeError(f"the preprocess model cannot decode JPEGs on {self.device}: the "
                               "GPU decoder (nvJPEG) refused a plain JPEG")

    def _photos(self, request):
        raw = pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()
        return [value if isinstance(value, bytes) else bytes(value) for value in raw.reshape(-1)]

    def _on_cpu(self, photos):
        pixels, colours = preprocess_photos(photos, self.contract, colours=True)
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor(tensor_names.PIXELS, pixels),
            pb_utils.Tensor(tensor_names.COLOUR, colours),
        ])

    def _on_gpu(self, batches):
        """One decode and fit for all photos of ``batches``; one response per batch."""
        from torch.utils.dlpack import to_dlpack

        from fashion_search.tensor_preprocessing import preprocess_batch

        photos = [photo for batch in batches for photo in batch]
        names = [f"image {index}" for batch in batches for index in range(len(batch))]
        pixels, colours = preprocess_batch(photos, self.contract, self.device, names)
        responses, start = [], 0
        for batch in batches:
            end = start + len(batch)
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor.from_dlpack(tensor_names.PIXELS, to_dlpack(pixels[start:end].contiguous())),
                pb_utils.Tensor.from_dlpack(tensor_names.COLOUR, to_dlpack(colours[start:end].contiguous())),
            ]))
            start = end
        return responses

    def _answer(self, batch):
        try:
            return self._on_gpu([batch])[0] if self.device else self._on_cpu(batch)
        except ImageError as err:
            return pb_utils.InferenceResponse(error=client_error(str(err)))

    def execute(self, requests):
        batches = [self._photos(request) for request in requests]
        if self.device and len(batches) > 1:
            try:
                return self._on_gpu(batches)
            except ImageError:
                pass  # one bad photo must not fail the other requests: answer each on its own
        return [self._answer(batch) for batch in batches]
