"""The components, each a top-level folder and a sub-package, bottom layer first.

This is the one list: packaging (``setup.py``), the architecture test, the GPU
check's bundle and the Triton image's build read it. A component may import
the core package and the components before it, never one after it; the CLI
(the module the console command runs) sits above them all.
"""

from __future__ import annotations

PACKAGE = "fashion_search"

COMPONENTS: tuple[str, ...] = (
    "export",
    "training",
    "vectordb",
    "serving",
    "evaluation",
    "demo",
    "bench",
)


def package_dirs() -> dict[str, str]:
    """Package name -> folder, relative to the repository root."""
    return {PACKAGE: PACKAGE, **{f"{PACKAGE}.{c}": c for c in COMPONENTS}}
