"""A batch run on a CPU a few photos at a time.

On a CPU the network's activations for a batch of 32 photos (51 MB for one
tensor of its first layers) overflow the cores' caches, and every layer then
streams them through memory. Run 4 photos at a time, the same batch went
15-25% faster on the 2-core machine the project is tested on (docs/benchmarks.md).
With more threads a call needs more photos to share among
them, so a slice is two photos a thread, and at least four (measured on 2
cores only: on many cores this keeps whole batches, as before). A GPU needs
whole batches to stay busy, so a session on any other provider runs the
batch as it comes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

CPU_PROVIDER = "CPUExecutionProvider"
# onnxruntime's switch for CPU threads that spin between steps (on by default)
SPINNING = "session.intra_op.allow_spinning"
ROWS = 4  # the fewest photos per onnxruntime call on a CPU: 2 to 8 were within 5%
ROWS_PER_THREAD = 2


def slice_rows(session: InferenceSession) -> int:
    """Photos per call for this session: two for each of its threads, at least ``ROWS``."""
    threads = session.get_session_options().intra_op_num_threads or os.cpu_count() or 1
    return max(ROWS, ROWS_PER_THREAD * threads)


def run_in_slices(session: InferenceSession, outputs: Sequence[str], input_name: str,
                  pixels: np.ndarray, rows: int | None = None) -> list[np.ndarray]:
    """``session.run`` over ``pixels``, a slice at a time on a CPU; outputs joined in order."""
    rows = rows or slice_rows(session)
    if len(pixels) <= rows or session.get_providers()[0] != CPU_PROVIDER:
        return session.run(list(outputs), {input_name: pixels})
    parts = [session.run(list(outputs), {input_name: pixels[start:start + rows]})
             for start in range(0, len(pixels), rows)]
    return [np.concatenate(column) for column in zip(*parts)]
