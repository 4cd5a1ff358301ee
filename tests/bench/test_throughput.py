"""The bench's closed loop of batch-1 clients, against the real server."""

import pytest

from fashion_search.bench.throughput import Row, closed_loop, format_table, server_stats


@pytest.mark.integration
def test_every_pass_sends_every_photo_once_and_each_call_is_timed(triton, catalog_items):
    photos = [item.read_bytes() for item in catalog_items[:12]]
    before = server_stats(triton.grpc_url)
    rate, latencies = closed_loop(photos, triton.grpc_url, clients=3, passes=2)
    after = server_stats(triton.grpc_url)
    assert len(latencies) == 2 * len(photos)
    assert rate > 0 and min(latencies) > 0
    # each client's warm-up photo, then two passes, through every step of the ensemble
    assert {name: after[name][1] - before[name][1] for name in after} == {
        name: 3 + 2 * len(photos) for name in after}


@pytest.mark.unit
def test_the_table_gives_each_rate_against_the_baseline():
    lines = format_table([Row("in-process", 200.0), Row("served", 180.0, 10.0, 20.0, "8 clients")],
                         200.0).splitlines()
    assert lines[3].split()[:3] == ["served", "180.0", "0.90x"]
    assert lines[3].split()[3:] == ["10.0", "20.0", "8", "clients"]
