"""The bench's closed loop of batch-1 clients, against the real server."""

import time

import pytest

from fashion_search import triton_config as tc
from fashion_search.bench.passes import rates_in_turns
from fashion_search.bench.throughput import (
    IDLE_S,
    Row,
    bench_query,
    closed_loop,
    format_table,
    server_stats,
)


@pytest.mark.integration
def test_every_pass_sends_every_photo_once_each_call_is_timed_and_between_runs_before_each(
        triton, catalog_items):
    photos = [item.read_bytes() for item in catalog_items[:12]]
    before = server_stats(triton.grpc_url)
    seen_before_pass = []  # photos the server had counted each time ``between`` ran

    def between():
        seen_before_pass.append(server_stats(triton.grpc_url)[tc.ENSEMBLE][1]
                                - before[tc.ENSEMBLE][1])

    rate, latencies = closed_loop(photos, triton.grpc_url, clients=3, passes=2, between=between)
    after = server_stats(triton.grpc_url)
    assert seen_before_pass == [3, 3 + len(photos)]  # after the warm-up, and between passes
    assert len(latencies) == 2 * len(photos)
    assert rate > 0 and min(latencies) > 0
    # each client's warm-up photo, then two passes, through the one model of the CPU server
    assert {name: after[name][1] - before[name][1] for name in after} == {
        tc.ENSEMBLE: 3 + 2 * len(photos)}


@pytest.mark.integration
def test_each_query_row_finds_every_photo_first_and_the_last_row_waits_between_queries(
        triton, catalog_items):
    photos = [item.read_bytes() for item in catalog_items[:6]]
    start = time.perf_counter()
    rows = bench_query(photos, triton.grpc_url, collection_size=40, queries=8)
    took = time.perf_counter() - start
    assert [row.path.split(", ", 1)[1] for row in rows] == [
        "shape only", "colour weight 0.02", "+ suggestions", "re-rank top 100",
        f"{IDLE_S * 1000:.0f} ms apart"]
    assert all(row.path.startswith("query: top 10 of 40") for row in rows)
    assert all(0 < row.p50_ms <= row.p99_ms for row in rows)
    assert took > 8 * IDLE_S  # the idle row's pauses, which its latencies leave out
    assert rows[-1].p50_ms < 8 * IDLE_S * 1000
    assert rows[-1].note.endswith("colour weight 0.02, server idle between")


@pytest.mark.unit
def test_the_table_gives_each_rate_against_the_baseline():
    lines = format_table([Row("in-process", 200.0), Row("served", 180.0, 10.0, 20.0, "8 clients")],
                         200.0).splitlines()
    assert lines[3].split()[:3] == ["served", "180.0", "0.90x"]
    assert lines[3].split()[3:] == ["10.0", "20.0", "8", "clients"]


@pytest.mark.unit
def test_rows_timed_in_turns_take_turns_within_each_pass_and_see_every_item():
    calls = []

    def recorder(name, pause):
        def run(batch):
            calls.append((name, tuple(batch)))
            time.sleep(pause)
        return run

    items = list(range(5))
    fast, slow = rates_in_turns([(items, recorder("fast", 0.001), 2), (items, recorder("slow", 0.01), 5)],
                        passes=3)
    warm_up, timed = calls[:2], calls[2:]
    assert warm_up == [("fast", (0, 1)), ("slow", (0, 1, 2, 3, 4))]
    one_pass = [("fast", (0, 1)), ("fast", (2, 3)), ("fast", (4,)), ("slow", (0, 1, 2, 3, 4))]
    assert timed == one_pass * 3
    assert fast < 5 / 0.003 and slow < 5 / 0.01 and fast > slow
