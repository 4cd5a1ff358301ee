"""The console command: results a shell user can read, errors without tracebacks."""

import json

import pytest

from fashion_search import colour
from fashion_search.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture
def env(monkeypatch, settings, triton, indexed):
    monkeypatch.setenv("FASHION_SEARCH_TRITON_URL", triton.grpc_url)
    monkeypatch.setenv("FASHION_SEARCH_MILVUS_URI", settings.resolved_milvus_uri)
    monkeypatch.setenv("FASHION_SEARCH_HOME", str(settings.home))
    monkeypatch.setenv("FASHION_SEARCH_MODEL_REPOSITORY", str(settings.model_repository))


def test_search_prints_k_ranked_rows_of_the_category(env, catalog_items, capsys):
    query = next(i for i in catalog_items if i.category == "Shirts")
    assert main(["search", str(query.path), "--category", "Shirts", "-k", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("looks like: Shirts")
    lines = lines[lines.index(next(line for line in lines if line.lstrip().startswith("rank"))):]
    assert lines[0].split()[:4] == ["rank", "match", "score", "category"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["1", "2", "3", "4"]
    assert all(r[3] == "Shirts" for r in rows)
    assert rows[0][4] == query.id
    assert rows[0][1] == "100%"  # the photo itself is the closest possible match


def test_search_json_output(env, catalog_items, capsys):
    assert main(["search", str(catalog_items[0].path), "-k", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    hits = result["hits"]
    assert len(hits) == 3 and hits[0]["id"] == catalog_items[0].id
    assert result["colour_weight"] == pytest.approx(colour.DEFAULT_WEIGHT)
    assert [h["match"] for h in hits] == sorted((h["match"] for h in hits), reverse=True)
    # without a classifier, the catalogue's nearest items still vote for a category
    assert result["suggestions"][0][0] == catalog_items[0].category


def test_auto_category_works_without_a_classifier(env, catalog_items, capsys):
    query = next(i for i in catalog_items if i.category == "Watches")
    assert main(["search", str(query.path), "--category", "auto", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["category"] == "Watches"
    assert {h["category"] for h in result["hits"]} == {"Watches"}


def test_a_colour_weight_out_of_range_is_one_clear_line(env, catalog_items, capsys):
    assert main(["search", str(catalog_items[0].path), "--colour-weight", "3"]) == 2
    assert capsys.readouterr().err.startswith("error: the colour weight must be between 0 and 1")


def test_wrong_category_is_one_clear_line(env, catalog_items, capsys):
    assert main(["search", str(catalog_items[0].path), "--category", "Nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown category 'Nope'; choose one of:")
    assert "Traceback" not in err


def test_unreadable_photo_is_named(env, tmp_path, capsys):
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    assert main(["search", str(bad)]) == 2
    assert "empty.jpg: the file is empty" in capsys.readouterr().err


def test_server_down_says_how_to_start_it(monkeypatch, catalog_items, tmp_path, capsys):
    from tests.conftest import free_port

    monkeypatch.setenv("FASHION_SEARCH_TRITON_URL", f"127.0.0.1:{free_port()}")
    monkeypatch.setenv("FASHION_SEARCH_MILVUS_URI", str(tmp_path / "unused.db"))
    assert main(["search", str(catalog_items[0].path)]) == 2
    assert "fashion-search serve" in capsys.readouterr().err


def test_an_unknown_loss_is_one_clear_line_before_any_work(tmp_path, capsys):
    assert main(["train", "--loss", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown loss 'nope'; choose one of")
    assert not any(tmp_path.iterdir())


def test_a_slow_server_is_a_timeout_not_a_missing_server(env, monkeypatch, catalog_items, capsys):
    monkeypatch.setenv("FASHION_SEARCH_TRITON_TIMEOUT_S", "0.001")
    assert main(["search", str(catalog_items[0].path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the Triton server at ") and "did not answer" in err
    assert "cannot reach" not in err and len(err.splitlines()) == 1


def test_zero_results_is_one_clear_line(env, catalog_items, capsys):
    assert main(["search", str(catalog_items[0].path), "-k", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: the number of results must be 1 to 16,384 (Milvus returns at most 16,384 per "
        "search), got 0")


def _small_catalog(root, clothing_dir, label, count):
    folder = root / label
    folder.mkdir(parents=True)
    for photo in sorted((clothing_dir / "train" / label).glob("*.jpg"))[:count]:
        (folder / photo.name).write_bytes(photo.read_bytes())
    return root


def test_a_second_catalogue_replaces_the_first_one(env, monkeypatch, tmp_path, clothing_dir,
                                                   capsys):
    monkeypatch.setenv("FASHION_SEARCH_MILVUS_URI", str(tmp_path / "stale.db"))
    shoes = _small_catalog(tmp_path / "A", clothing_dir, "shoes", 20)
    dresses = _small_catalog(tmp_path / "B", clothing_dir, "dress", 10)
    assert main(["index", "--catalog", str(shoes)]) == 0
    assert main(["index", "--catalog", str(dresses)]) == 0
    out = capsys.readouterr().out
    assert "full index: 10 items live" in out and "added 10, changed 0, removed 0" in out
    shoe = next((shoes / "shoes").glob("*.jpg"))
    assert main(["search", str(shoe), "-k", "5", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 5 and {h["category"] for h in hits} == {"dress"}


def test_search_filters_on_catalogue_columns(env, catalog_items, capsys):
    query = catalog_items[0]
    assert main(["search", str(query.path), "-k", "50", "--json", "--where", "gender=Women",
                 "--where", "baseColour=black", "--where", "baseColour=White"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    expected = {i.id for i in catalog_items if i.labels["gender"] == "Women"
                and i.labels["baseColour"] in ("Black", "White")}
    assert hits and {h["id"] for h in hits} == expected
    assert main(["search", str(query.path), "--where", "colour=Black"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown label 'colour'; choose one of: ")


def test_switch_back_from_the_command_line_names_both_collections(tmp_path, monkeypatch,
                                                                    capsys):
    from fashion_search.vectordb.lifecycle import rebuild
    from fashion_search.vectordb.store import CatalogStore
    from tests.vectordb.test_lifecycle import StandInEmbedder, make_items

    db = tmp_path / "catalog.db"
    store = CatalogStore(str(db))
    first = rebuild(make_items(tmp_path / "a", "caps", 3), StandInEmbedder(), store,
                    progress=False).collection
    second = rebuild(make_items(tmp_path / "b", "caps", 3), StandInEmbedder(), store,
                     progress=False).collection
    store.close()
    monkeypatch.setenv("FASHION_SEARCH_MILVUS_URI", str(db))
    assert main(["index", "--switch-back"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{first} is live again; {second} stays until the next index prunes it")
