"""Triton Python-backend model that runs the embedder's ONNX file with onnxruntime.

The ``tritonserver`` binary available without a GPU has only the Python
backend, so on a CPU this file serves the embedder. Given pixels (the
``embedder`` stage of the two-stage layout) it runs the network; given encoded
photos (the fused CPU layout, served as ``embed_image`` itself) it first
decodes and fits them with the contract its config carries, and answers the
colour descriptor too, as the ``preprocess`` stage would, to the requests that
ask for it.

Its instances share the CPU's cores: alone, an instance runs the network on
all of them; while another instance is busy, on its share (``instance_board``).
"""

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

from fashion_search import tensor_names
from fashion_search.batch_slices import SPINNING, run_in_slices
from fashion_search.config import ORT_THREADS_ENV
from fashion_search.errors import ImageError
from fashion_search.pixel_buffers import PixelBuffer
from fashion_search.preprocessing import PreprocessConfig, preprocess_photos
from fashion_search.serving.backend_errors import client_error
from fashion_search.serving.instance_board import InstanceBoard, thread_shares


def _session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Threads that spin between runs take the cores the other instances need.
    options.add_session_config_entry(SPINNING, "0")
    # The two sessions of an instance share one memory arena (registered below).
    options.add_session_config_entry("session.use_env_allocators", "1")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        instances = sum(group.get("count", 1) for group in config.get("instance_group", [])) or 1
        cores = int(os.environ.get(ORT_THREADS_ENV, "0")) or os.cpu_count() or 1
        alone, crowded = thread_shares(cores, instances)
        ort.create_and_register_allocator(
            ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0,
                              ort.OrtMemType.DEFAULT), None)
        self.session = _session(path, alone)
        self.crowded = _session(path, crowded) if crowded != alone else self.session
        self.board = InstanceBoard.for_triton_instance(args, instances)
        self.input = config["input"][0]["name"]
        in_graph = {t.name for t in self.session.get_outputs()}  # the colour is computed here
        self.outputs = [t["name"] for t in config["output"] if t["name"] in in_graph]
        self.contract = None
        if self.input == tensor_names.INPUT_BYTES:
            params = config["parameters"]
            contract = params[tensor_names.PREPROCESSING_PARAM]["string_value"]
            self.contract = PreprocessConfig.from_json(contract)
            self.buffer = PixelBuffer(self.contract)

    def _decoded(self, requests):
        """Pixels and colours per request, or why its photos cannot be used (a message).

        The usable requests' pixels lie one after another in the instance's
        buffer, which onnxruntime then reads in place. Only the
        message is kept: an exception kept past its ``except`` holds this
        frame, and with it the request's photos, in a cycle until the garbage
        collector runs, which under oversized requests grew the server by gigabytes.
        """
        photos = []
        for request in requests:
            raw = pb_utils.get_input_tensor_by_name(request, self.input).as_numpy().reshape(-1)
            photos.append([value if isinstance(value, bytes) else bytes(value) for value in raw])
        batch = self.buffer.rows(sum(len(p) for p in photos))
        answers, start = [], 0
        for request, mine in zip(requests, photos):
            colours = tensor_names.COLOUR in request.requested_output_names()
            try:  # a failed request's rows are written over by the next one's
                answers.append(preprocess_photos(mine, self.contract, colours=colours,
                                                 out=batch[start:]))
                start += len(mine)
            except ImageError as err:  # this request's mistake; the others are answered
                answers.append(str(err))
        return answers, batch[:start]

    def execute(self, requests):
        with self.board.running():
            return self._execute(requests)

    def finalize(self):
        self.board.close()

    def _execute(self, requests):
        if self.contract is None:
            arrays = [pb_utils.get_input_tensor_by_name(r, self.input).as_numpy()
                      for r in requests]
            return self._run(arrays, [{} for _ in requests])
        decoded, pixels = self._decoded(requests)
        usable = [d for d in decoded if not isinstance(d, str)]
        extra = [{} if d[1] is None else {tensor_names.COLOUR: d[1]} for d in usable]
        answered = iter(self._run([d[0] for d in usable], extra, pixels)
                        if usable else [])
        return [pb_utils.InferenceResponse(error=client_error(d)) if isinstance(d, str)
                else next(answered) for d in decoded]

    def _run(self, arrays, extra, pixels=None):
        # Requests that Triton batched together run as one batch (in slices on a
        # CPU), their pixels side by side (decoded so, or joined here).
        if pixels is None:
            pixels = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)  # no copy of one
        session = self.crowded if self.board.others_running() else self.session
        results = run_in_slices(session, self.outputs, tensor_names.PIXELS,
                                pixels.astype(np.float32, copy=False))
        responses, start = [], 0
        for array, more in zip(arrays, extra):
            end = start + array.shape[0]
            tensors = [pb_utils.Tensor(name, np.ascontiguousarray(value[start:end]))
                       for name, value in zip(self.outputs, results)]
            tensors += [pb_utils.Tensor(name, value) for name, value in more.items()]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = end
        return responses
