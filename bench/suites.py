"""The bench suites by name, and each table written beside the command that made it.

A suite's table is printed and also written to ``RESULTS/<suite>.md`` with the
command line, the machine and the date, so a figure quoted in the docs points
at a file the bench wrote and the command that rewrites it (the way timm keeps
its benchmark figures as files). ``docs/results/`` holds the committed ones.
"""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

from fashion_search.config import PROJECT_ROOT, Settings, load_settings
from fashion_search.files import write_text_atomic

SUITES = ("throughput", "catalogue", "preprocessing", "int8", "soak", "gpu-prepare", "page", "load")
# suites whose output is not a table of figures (a bundle for the GPU machine)
NO_TABLE = {"gpu-prepare"}


def run_suite(suite: str, *, photos: str | None = None, count: int = 500,
              collection_size: int = 10_000, rows: int | None = None, clicks: int = 40,
              minutes: float = 3.0, milvus_server: str | None = None, lite: bool = True,
              indexes: tuple[str, ...] = (), device: str = "cpu", out: Path | None = None,
              settings: Settings | None = None) -> str:
    """Run one suite; its table (or, for gpu-prepare, what to do with the bundle)."""
    settings = settings or load_settings()
    if suite == "catalogue":
        from fashion_search.bench.catalog_scale import bench_catalog

        return str(bench_catalog(catalog=photos, rows=rows or 100_000, server_uri=milvus_server,
                                 lite=lite, indexes=indexes))
    if suite == "gpu-prepare":
        from fashion_search.bench.gpu_check import prepare_bundle
        from fashion_search.checkpoint import trained_model_path

        bundle = prepare_bundle(out or Path("build/gpu-check"), settings.data_dir,
                                model=trained_model_path(settings))
        return f"GPU check bundle in {bundle}; on the GPU machine: python3 bench/gpu_check.py {bundle}"
    if suite == "soak":
        from fashion_search.bench.soak import bench_soak

        return str(bench_soak(photos=photos or settings.data_dir / "fashion-product-images" / "images",
                              minutes=minutes))
    if suite == "page":
        from fashion_search.bench.page_latency import bench_page

        return bench_page(rows=rows or 10_000, clicks=clicks).table()
    if suite == "load":
        from fashion_search.bench.perf_analyzer import bench_load

        return str(bench_load(photos=photos, count=count))
    if suite == "int8":
        from fashion_search.bench.int8 import bench_int8

        return str(bench_int8())
    if suite == "preprocessing":
        from fashion_search.bench.preprocessing_parity import bench_preprocessing

        return str(bench_preprocessing(per_set=count, device=device))
    from fashion_search.bench.throughput import bench

    return bench(photos=photos, count=count, collection_size=collection_size).table()


def machine() -> str:
    """What ran it: the figures of one file are comparable with each other, not across files."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores usable, Python {platform.python_version()}"


def write_result(suite: str, table: str, command: str, results_dir: Path) -> Path:
    """``results_dir/<suite>.md``: the command, the machine, the date, then the table."""
    today = datetime.date.today().isoformat()
    table = table.replace(f"{PROJECT_ROOT}/", "")  # a path under the checkout, as a reader's own
    text = (f"# `{suite}` suite\n\nWritten by the bench; to measure again:\n\n"
            f"```bash\n{command}\n```\n\nRun on {today}: {machine()}.\n\n```text\n{table.rstrip()}\n```\n")
    return write_text_atomic(Path(results_dir) / f"{suite}.md", text)
