"""The README's first lines and its gRPC example stay true."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fashion_search.config import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


@pytest.mark.unit
def test_readme_opens_with_the_two_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert block[0].startswith("make demo") and block[1].startswith("make test")


@pytest.mark.integration
def test_grpc_example_returns_the_served_embedding(client, triton, products_dir, tmp_path):
    code = re.search(r"<!-- grpc-example -->\n```python\n(.*?)```", README, re.S).group(1)
    script = tmp_path / "example.py"
    kept = tmp_path / "embedding.npy"  # what the example got, to compare with the client's
    script.write_text(code + f"\nnp.save({str(kept)!r}, embedding)\n")
    photo = sorted((products_dir / "images").glob("*.jpg"))[0]
    env = {**os.environ, "FASHION_SEARCH_TRITON_URL": triton.grpc_url}
    out = subprocess.run([sys.executable, str(script), str(photo)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    shape, norm = re.match(r"\((\d+),\) ([\d.]+)", out).groups()
    assert int(shape) == client.info().dim
    assert abs(float(norm) - 1.0) < 1e-4
    expected = client.embed([photo.read_bytes()])[0]
    assert float(np.dot(np.load(kept), expected)) > 0.9999


@pytest.mark.unit
def test_readme_screenshots_are_ones_the_browser_tests_take():
    shown = re.findall(r"test-artifacts/([\w-]+)\.png", README)
    tests = "".join(p.read_text() for p in (PROJECT_ROOT / "tests" / "demo").glob("test_*.py"))
    taken = set(re.findall(r'shot\([^,]+, f?"([\w{}-]+)"\)', tests))
    taken |= set(re.findall(r'"([\w-]+)\.png"', tests))
    taken |= {name.replace("{side}", side) for name in taken for side in ("left", "right")}
    assert len(shown) >= 2 and set(shown) <= taken, (shown, taken)
