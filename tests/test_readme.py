"""The README and docs/ stay true: the first commands, the gRPC example, images, links, settings."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fashion_search.config import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
PAGES = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 260


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _prose(text: str) -> str:
    """A page without its code blocks and inline code, where links are not links."""
    return re.sub(r"`[^`\n]*`", "", _without_code_blocks(text))


def _anchors(page: Path) -> set[str]:
    """The heading anchors a page has, as GitHub makes them."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", _without_code_blocks(page.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def _images(page: Path) -> list[str]:
    prose = _prose(page.read_text())
    return (re.findall(r"!\[[^\]]*\]\(([^)\s]+)", prose)
            + re.findall(r"<img\s[^>]*src=[\"']([^\"']+)", prose))


def _links(page: Path) -> list[str]:
    """Every link target on a page that is not an image."""
    return re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s]+)", _prose(page.read_text()))


def _committed(path: Path) -> bool:
    listed = subprocess.run(["git", "ls-files", "--", str(path.relative_to(PROJECT_ROOT))],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return bool(listed.stdout.strip())


def _settings_variables() -> set[str]:
    """Every environment variable the Settings read, from fashion_search/config.py's source."""
    source = (PROJECT_ROOT / "fashion_search" / "config.py").read_text()
    names = re.findall(r"\b_env(?:_number)?\(\s*\"(\w+)\"", source)
    names += re.findall(r"ENV_PREFIX\s*\+\s*\"(\w+)\"", source)
    return {"FASHION_SEARCH_" + name for name in names}


@pytest.mark.unit
def test_readme_opens_with_the_two_commands():
    block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).splitlines()
    assert block[0].startswith("make demo") and block[1].startswith("make test")


@pytest.mark.integration
def test_grpc_example_returns_the_served_embedding(client, triton, products_dir, tmp_path):
    serving = (PROJECT_ROOT / "docs" / "serving.md").read_text()
    code = re.search(r"<!-- grpc-example -->\n```python\n(.*?)```", serving, re.S).group(1)
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
def test_every_image_the_pages_show_is_a_committed_file():
    shown = {(page, src) for page in PAGES for src in _images(page)}
    wrong = []
    for page, src in sorted(shown):
        path = (page.parent / src).resolve()
        if (src.startswith(("http://", "https://")) or "test-artifacts" in path.parts
                or not path.is_relative_to(PROJECT_ROOT) or not path.is_file()
                or not _committed(path)):
            wrong.append(f"{page.relative_to(PROJECT_ROOT)}: {src}")
    assert not wrong, f"images that are not committed files of the repository: {wrong}"


@pytest.mark.unit
def test_every_relative_link_in_the_pages_resolves():
    broken = []
    for page in PAGES:
        for target in _links(page):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                broken.append(f"{page.relative_to(PROJECT_ROOT)}: {target} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.relative_to(PROJECT_ROOT)}: {target} (no such heading)")
    assert not broken, broken


@pytest.mark.unit
def test_readme_stays_a_short_front_door():
    lines = len(README.splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the depth to docs/"


@pytest.mark.unit
def test_every_setting_is_in_the_readme_settings_table():
    table = re.search(r"^\| Variable \| Default \| What it does \|\n((?:\|.*\n?)+)", README, re.M)
    assert table, "the README has no settings table"
    listed = set(re.findall(r"^\| `(FASHION_SEARCH_\w+)` \|", table.group(1), re.M))
    expected = _settings_variables()
    assert "FASHION_SEARCH_TRITON_URL" in expected and "FASHION_SEARCH_ORT_THREADS" in expected
    assert expected <= listed, f"settings missing from the README's table: {expected - listed}"


@pytest.mark.integration
def test_garments_grpc_example_returns_what_the_client_reads(garments, triton, street_dir,
                                                            tmp_path):
    page = (PROJECT_ROOT / "docs" / "garments.md").read_text()
    code = re.search(r"<!-- garments-grpc-example -->\n```python\n(.*?)```", page, re.S).group(1)
    script = tmp_path / "example.py"
    kept = tmp_path / "scores.npy"
    script.write_text(code + f"\nnp.save({str(kept)!r}, scores)\n")
    photo = sorted((street_dir / "photos").glob("*.jpg"))[0]
    env = {**os.environ, "FASHION_SEARCH_TRITON_URL": triton.grpc_url}
    out = subprocess.run([sys.executable, str(script), str(photo)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    from fashion_search.garments import KINDS

    assert out.strip() == f"({len(KINDS)}, 4) ({len(KINDS)},)"
    scores = np.load(kept)
    threshold = garments.settings().threshold
    found = {g.kind for g in garments.find(photo.read_bytes())}
    assert found <= {k for k, s in zip(KINDS, scores) if s >= threshold}
