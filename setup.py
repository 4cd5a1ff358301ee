"""Packaging metadata lives in pyproject.toml; this maps the component folders.

Each top-level component folder is a sub-package of ``fashion_search``; the
list is read from ``fashion_search/components.py`` so it is written once.
"""

import runpy
from pathlib import Path

from setuptools import setup

dirs = runpy.run_path(str(Path(__file__).parent / "fashion_search" / "components.py"))["package_dirs"]()
setup(package_dir=dirs, packages=list(dirs))
