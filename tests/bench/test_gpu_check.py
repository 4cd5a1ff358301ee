"""The GPU check runs end to end from its bundle (here on the CPU, which it also accepts)."""

import os
import subprocess
import sys
import zipfile

import pytest

from fashion_search.bench.gpu_check import format_lines, prepare_bundle, put_on_path
from fashion_search.config import PROJECT_ROOT


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, products_dir, clothing_dir, street2shop_dir):
    data_dir = products_dir.parent
    return prepare_bundle(tmp_path_factory.mktemp("gpu") / "bundle", data_dir, wheels=False,
                          per_category={"train": 3, "validation": 1}, pairs=24, products=6)


@pytest.mark.integration
def test_the_bundle_keeps_the_shared_layout_and_only_a_subset(bundle):
    data = bundle / "data"
    assert len(list((data / "clothing-dataset-small" / "train").rglob("*.jpg"))) == 30
    assert len(list((data / "clothing-dataset-small" / "validation").rglob("*.jpg"))) == 10
    pairs = (data / "street2shop-dev" / "pairs.csv").read_text().splitlines()
    assert pairs[0] == "person,product" and len(pairs) == 25
    assert all((data / "street2shop-dev" / name).is_file()
               for line in pairs[1:] for name in line.split(","))
    assert len(list((data / "fashion-product-images" / "images").glob("*.jpg"))) == 6


@pytest.mark.integration
def test_a_bundle_whose_wheels_cannot_be_downloaded_is_removed_with_the_reason(
        tmp_path, products_dir, clothing_dir, street2shop_dir, monkeypatch):
    from fashion_search.bench import gpu_check
    from fashion_search.errors import DownloadError

    def offline(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(gpu_check.subprocess, "run", offline)
    out = tmp_path / "bundle"
    with pytest.raises(DownloadError, match="No matching distribution.*package index"):
        prepare_bundle(out, products_dir.parent, per_category={"train": 1}, pairs=2, products=1)
    assert not out.exists()


# What the bare GPU machine lacks and the bundle does not carry: importing any fails there.
# (simplejpeg is in the bundle's wheels: the contract's decode needs it.)
ABSENT_THERE = ("tritonclient", "grpc", "rapidjson", "pymilvus", "milvus_lite", "gradio", "ray",
                "playwright")


@pytest.mark.integration
def test_the_script_runs_every_check_from_a_checkout_and_prints_one_table(bundle, tmp_path):
    blocker = tmp_path / "absent"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        f"import sys\nfor name in {ABSENT_THERE!r}:\n    sys.modules[name] = None\n")
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "bench" / "gpu_check.py"), str(bundle),
         "--device", "cpu", "--steps", "2", "--per-set", "3", "--batches", "1", "2",
         "--precisions", "fp32"],
        capture_output=True, text=True, timeout=600, cwd=bundle,
        env={**os.environ, "PYTHONPATH": str(blocker)})
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    assert "FAILED" not in table, table + done.stderr[-3000:]
    assert "training (views + steps)" in table and "2 steps on cpu" in table
    assert "validation-pair R@10" in table
    parity = [line for line in table.splitlines() if line.startswith("parity:")]
    assert len(parity) == 4  # three shared sets and the large photos
    for line in parity:
        cos_min = float(line.split("cos min")[1].split()[0])
        assert cos_min >= 0.995, line
        decoded, photos = int(line.split(" by the cpu decoder")[0].split("(")[-1]), \
            int(line.split(" photos (")[0].split()[-1])
        assert 0 < decoded <= photos, line
    assert "embedder photos/s, fp32" in table and "b2 " in table
    assert "served rate (Triton)" in table
    served = [line for line in table.splitlines() if line.startswith("served pipeline photos/s")]
    assert len(served) == 1 and "4 requests of 64" in served[0], table
    assert float(served[0].split()[3].replace(",", "")) > 0


@pytest.mark.unit
def test_the_table_lines_up():
    from fashion_search.bench.gpu_check import Line

    first, second = format_lines([Line("a", "1", "x"), Line("longer check", "22", "y")]).splitlines()
    assert first.index("1") == second.index("22") and first.index("x") == second.index("y")


@pytest.mark.unit
def test_the_bundle_wheels_unpack_onto_the_path_without_pip(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "wheels").mkdir()
    with zipfile.ZipFile(tmp_path / "wheels" / "tinypkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr("tinypkg_for_gpu_check/__init__.py", "ANSWER = 42\n")
        wheel.writestr("tinypkg_for_gpu_check/weights.bin", b"\x00" * 8)
    put_on_path(tmp_path, PROJECT_ROOT)
    assert (tmp_path / "site" / "tinypkg_for_gpu_check" / "weights.bin").stat().st_size == 8
    assert str(tmp_path / "site") in sys.path
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("site-")] == []
