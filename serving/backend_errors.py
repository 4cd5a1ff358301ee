"""The error a Python-backend model answers a client's bad photo with.

Imported only by the models Triton runs (``triton_python_backend_utils`` exists
only there), and kept apart from them so that the preprocessing model does not
pull in onnxruntime with the embedder's module.
"""

import triton_python_backend_utils as pb_utils


def client_error(message: str) -> "pb_utils.TritonError":
    """INVALID_ARGUMENT (HTTP 400): the photo is at fault, not the server.

    Python backends older than error codes answer INTERNAL.
    """
    code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    return pb_utils.TritonError(message) if code is None else pb_utils.TritonError(message, code)
