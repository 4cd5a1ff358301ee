"""Each bench table lands in a file with the command that made it."""

import pytest

from fashion_search import cli
from fashion_search.bench.suites import write_result

pytestmark = pytest.mark.unit


def test_a_result_file_holds_the_command_the_machine_and_the_table(tmp_path):
    path = write_result("throughput", "path  photos/s\nfused  41.0\n",
                        "fashion-search bench --count 200", tmp_path)
    text = path.read_text()
    assert path == tmp_path / "throughput.md"
    assert "```bash\nfashion-search bench --count 200\n```" in text
    assert "cores usable" in text and "fused  41.0" in text


def test_paths_under_the_checkout_are_written_relative_to_it(tmp_path):
    from fashion_search.config import PROJECT_ROOT

    table = f"model {PROJECT_ROOT}/artifacts/training/model.pt\n"
    text = write_result("soak", table, "fashion-search bench --suite soak", tmp_path).read_text()
    assert "model artifacts/training/model.pt" in text and str(PROJECT_ROOT) not in text


def test_the_bench_command_writes_its_table_with_its_own_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "run_suite", lambda suite, **kwargs: f"{suite} {kwargs['count']} rows")
    assert cli.main(["bench", "--suite", "int8", "--count", "7", "--results", str(tmp_path)]) == 0
    text = (tmp_path / "int8.md").read_text()
    assert "fashion-search bench --suite int8 --count 7 --results" in text
    assert "int8 7 rows" in text and "int8.md" in capsys.readouterr().out


def test_the_gpu_bundle_is_not_a_table_and_writes_no_result(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "run_suite", lambda suite, **kwargs: "bundle in build/gpu-check")
    assert cli.main(["bench", "--suite", "gpu-prepare", "--results", str(tmp_path)]) == 0
    assert not list(tmp_path.iterdir())
