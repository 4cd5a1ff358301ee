"""Triton's perf_analyzer: found, fed the photos as embed_image expects, read back, run for real."""

import base64
import json
import struct
from pathlib import Path

import pytest

from fashion_search.bench.perf_analyzer import (
    LoadPoint,
    PerfAnalyzer,
    PerfAnalyzerError,
    find_perf_analyzer,
    format_sweep,
    measure,
    parse_csv,
    write_input_data,
)
from fashion_search.bench.throughput import server_stats
from fashion_search.config import Settings
from fashion_search.errors import ConfigError

# The -f file of a real run: 8 clients against embed_image on this project's CPU server.
REAL_CSV = """\
Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,Server Compute Input,\
Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,p95 latency,p99 latency
8,144.464,4,20422,2,601,32929,1462,2,53746,63489,66214,71989
"""


@pytest.mark.unit
def test_each_photo_goes_as_a_length_prefixed_string_tensor(tmp_path):
    photos = [b"\xff\xd8first", b"\xff\xd8a second, longer photo"]
    data = json.loads(write_input_data(photos, tmp_path / "in.json").read_text())["data"]
    assert len(data) == 2
    for entry, photo in zip(data, photos):
        raw = base64.b64decode(entry["image_bytes"]["b64"])
        assert struct.unpack("<I", raw[:4])[0] == len(photo)
        assert raw[4:] == photo


@pytest.mark.unit
def test_no_photos_is_refused_before_a_run(tmp_path):
    with pytest.raises(PerfAnalyzerError, match="no photos"):
        write_input_data([], tmp_path / "in.json")
    assert not (tmp_path / "in.json").exists()


@pytest.mark.unit
def test_the_csv_reads_as_photos_per_second_and_milliseconds():
    (point,) = parse_csv(REAL_CSV)
    assert point == LoadPoint(8, 144.464, 53.746, 71.989, 0.002, pytest.approx(34.992))


@pytest.mark.unit
def test_the_sweep_table_sets_both_generators_side_by_side():
    own = [LoadPoint(1, 100.0, 9.0, 11.0), LoadPoint(8, 150.0, 50.0, 80.0)]
    theirs = [LoadPoint(1, 110.0, 8.9, 12.5, 0.1, 8.5), LoadPoint(8, 144.0, 53.7, 72.0, 0.0, 35.0)]
    lines = format_sweep(own, theirs).splitlines()
    assert lines[3].split()[0] == "1" and lines[3].endswith("1.10x")
    assert lines[4].split()[0] == "8" and lines[4].endswith("0.96x")


@pytest.mark.unit
def test_a_missing_binary_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PerfAnalyzerError, match="make perf-analyzer"):
        find_perf_analyzer(Settings(perf_analyzer=""), prefix=tmp_path)
    with pytest.raises(ConfigError, match="FASHION_SEARCH_PERF_ANALYZER is .*not a file"):
        find_perf_analyzer(Settings(perf_analyzer=str(tmp_path / "nothing")))


@pytest.mark.unit
def test_the_installed_binary_loads_its_cuda_runtime(tmp_path):
    binary = tmp_path / "perf-analyzer" / "bin" / "perf_analyzer"
    binary.parent.mkdir(parents=True)
    binary.touch()
    tool = find_perf_analyzer(Settings(perf_analyzer=""), prefix=tmp_path)
    assert tool.binary == binary
    assert tool.environment()["LD_LIBRARY_PATH"].split(":")[0] == str(
        tmp_path / "perf-analyzer" / "nvidia" / "cuda_runtime" / "lib")


@pytest.mark.unit
def test_a_binary_without_libb64_says_which_package_to_install(tmp_path):
    fake = tmp_path / "perf_analyzer"
    fake.write_text("#!/bin/sh\necho 'perf_analyzer: error while loading shared libraries: "
                    "libb64.so.0d: cannot open shared object file' >&2\nexit 127\n")
    fake.chmod(0o755)
    with pytest.raises(PerfAnalyzerError, match="apt-get install libb64-0d"):
        measure(PerfAnalyzer(fake), "127.0.0.1:1", tmp_path / "in.json", clients=1)


@pytest.fixture(scope="module")
def tool(settings):
    # The test command installs it (make perf-analyzer); a missing tool fails here.
    return find_perf_analyzer(settings)


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory, products_dir) -> Path:
    photos = [p.read_bytes() for p in sorted((products_dir / "images").glob("*.jpg"))[:20]]
    return write_input_data(photos, tmp_path_factory.mktemp("load") / "photos.json")


@pytest.mark.integration
def test_perf_analyzer_loads_the_real_server(tool, triton, photo_file):
    before = server_stats(triton.grpc_url)
    point = measure(tool, triton.grpc_url, photo_file, clients=2, window_ms=1000,
                    stability_percent=100)
    after = server_stats(triton.grpc_url)
    assert point.clients == 2
    assert point.photos_per_s > 1
    assert 0 < point.p50_ms <= point.p99_ms
    assert point.compute_ms > 0
    # the server really embedded the photos it sent: at least a window's worth
    for stage in before:
        assert after[stage][1] - before[stage][1] >= point.photos_per_s * 0.5


@pytest.mark.integration
def test_a_request_the_server_refuses_comes_back_as_its_message(tool, triton, tmp_path):
    unprefixed = tmp_path / "bad.json"
    unprefixed.write_text(json.dumps({"data": [{"image_bytes": {"b64": base64.b64encode(
        b"\xff\xd8 not length-prefixed").decode()}}]}))
    with pytest.raises(PerfAnalyzerError, match="failed at 1 client: .*string"):
        measure(tool, triton.grpc_url, unprefixed, clients=1, window_ms=500, timeout_s=60)
