"""Triton Python backend: encoded image bytes -> the embedder's pixels and a colour descriptor.

It runs the project's one preprocessing function with the contract that the
exported model carries in this model's config, so the server decodes and
fits photos exactly as training did; the colour descriptor comes from the
same decoded photo.
"""

import json

import numpy as np
import triton_python_backend_utils as pb_utils

from fashion_search import triton_config as tc
from fashion_search.errors import ImageError
from fashion_search.preprocessing import PreprocessConfig, preprocess_with_colour


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = config.get("parameters", {})
        self.contract = PreprocessConfig.from_json(params[tc.PREPROCESSING_PARAM]["string_value"])
        self.input_name = config["input"][0]["name"]

    def _one(self, request):
        raw = pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy()
        pixels, colours = [], []
        for index, value in enumerate(raw.reshape(-1)):
            data = value if isinstance(value, bytes) else bytes(value)
            photo, colour = preprocess_with_colour(data, self.contract, name=f"image {index}")
            pixels.append(photo)
            colours.append(colour)
        return pb_utils.InferenceResponse(output_tensors=[
            pb_utils.Tensor(tc.PIXELS, np.stack(pixels).astype(np.float32)),
            pb_utils.Tensor(tc.COLOUR, np.stack(colours).astype(np.float32)),
        ])

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                responses.append(self._one(request))
            except ImageError as err:
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(err))))
        return responses
