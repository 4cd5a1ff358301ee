"""Triton Python-backend model that runs the embedder's ONNX file with onnxruntime.

The ``tritonserver`` binary available without a GPU has only the Python
backend, so on a CPU the ``embedder`` model is this file under the same name,
inputs and outputs as the ONNX Runtime backend config used on a GPU.
"""

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        options = ort.SessionOptions()
        threads = int(os.environ.get("FASHION_SEARCH_ORT_THREADS", "0"))
        options.intra_op_num_threads = threads
        # Threads that spin between runs take the cores the preprocessing instances need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(version_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [t["name"] for t in config["input"]]
        self.outputs = [t["name"] for t in config["output"]]

    def execute(self, requests):
        # Requests that Triton batched together run as one onnxruntime call.
        arrays = [
            pb_utils.get_input_tensor_by_name(r, self.inputs[0]).as_numpy() for r in requests
        ]
        sizes = [a.shape[0] for a in arrays]
        pixels = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)  # no copy of one
        feeds = {self.inputs[0]: pixels.astype(np.float32, copy=False)}
        results = self.session.run(self.outputs, feeds)
        responses, start = [], 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(value[start:start + size]))
                for name, value in zip(self.outputs, results)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
