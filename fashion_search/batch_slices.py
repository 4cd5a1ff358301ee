"""A batch run on a CPU a few photos at a time.

On a CPU the network's activations for a batch of 32 photos (51 MB for one
tensor of its first layers) overflow the cores' caches, and every layer then
streams them through memory. Run 4 photos at a time, the same batch went
15-25% faster on the 2-core machine the project is tested on (README, section
"Benchmark"). A GPU needs whole batches to stay busy, so a session on any
other provider runs the batch as it comes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

CPU_PROVIDER = "CPUExecutionProvider"
ROWS = 4  # photos per onnxruntime call on a CPU: 2 to 8 were within 5% of each other


def run_in_slices(session, outputs: Sequence[str], input_name: str, pixels: np.ndarray,
                  rows: int = ROWS) -> list[np.ndarray]:
    """``session.run`` over ``pixels``, ``rows`` at a time on a CPU; outputs joined in order."""
    if len(pixels) <= rows or session.get_providers()[0] != CPU_PROVIDER:
        return session.run(list(outputs), {input_name: pixels})
    parts = [session.run(list(outputs), {input_name: pixels[start:start + rows]})
             for start in range(0, len(pixels), rows)]
    return [np.concatenate(column) for column in zip(*parts)]
