"""The bench suites by name, and each table written beside the command that made it.

A suite's table is printed and also written to ``RESULTS/<suite>.md`` with the
command line, the machine and the date, so a figure quoted in the docs points
at a file the bench wrote and the command that rewrites it (the way timm keeps
its benchmark figures as files). ``docs/results/`` holds the committed ones.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
from pathlib import Path

from fashion_search.config import PROJECT_ROOT, Settings, load_settings
from fashion_search.files import write_text_atomic

SUITES = ("throughput", "catalogue", "preprocessing", "int8", "soak", "gpu-prepare", "page", "load",
          "garments")
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
    if suite == "garments":
        from fashion_search.bench.garments import bench_garments

        return bench_garments(count=min(count, 100), collection_size=collection_size).table()
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


def add_bench_flags(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` command's flags: one per suite setting."""
    parser.add_argument("--suite", default="throughput", choices=SUITES,
                        help="embedding paths and queries, catalogue search at scale, the tensor "
                             "(GPU) preprocessing path against the contract, the int8 graph against "
                             "the float one, the server's memory under minutes of load, or gather "
                             "what bench/gpu_check.py needs on a GPU machine, or the demo page's "
                             "click-to-results time in Chromium, or the 1-16 client sweep by "
                             "Triton's perf_analyzer beside the project's own, or the garment "
                             "finder's cost per query (whole photo vs --garment auto)")
    parser.add_argument("--minutes", type=float, default=3.0, help="soak suite: how long to load")
    parser.add_argument("--out", type=Path, default=Path("build/gpu-check"),
                        help="gpu-prepare: the bundle folder (ignored by git; copy it to the GPU machine)")
    parser.add_argument("--results", type=Path,
                        help="folder the table is written to as SUITE.md with this command "
                             "(default: $FASHION_SEARCH_HOME/bench; docs/results holds the committed ones)")
    parser.add_argument("--photos", default=None, help="folder of photos (default: the catalogue; "
                                                       "for the catalogue suite the product photos)")
    parser.add_argument("--rows", type=int, help="catalogue suite: collection size (default 100,000); "
                                                 "page suite: catalogue items (default 10,000)")
    parser.add_argument("--clicks", type=int, default=40, help="page suite: result clicks timed")
    parser.add_argument("--milvus-server", help="catalogue suite: also measure this Milvus server URI")
    parser.add_argument("--no-lite", action="store_true", help="catalogue suite: skip Milvus Lite")
    parser.add_argument("--index", action="append",
                        help="catalogue suite: only this index setup (FLAT, IVF_FLAT, HNSW, "
                             "HNSW+cat, HNSW/16p); repeatable")
    parser.add_argument("--count", type=int, default=500,
                        help="photos (throughput), or photos per shared set (preprocessing)")
    parser.add_argument("--device", default="cpu",
                        help="preprocessing suite: where the tensor path runs (cpu, cuda)")
    parser.add_argument("--collection-size", type=int, default=10_000)
