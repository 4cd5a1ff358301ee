"""How the page listens and what it may serve: catalogue photos and nothing else.

Gradio serves any file under its allowed paths. The page allows the folders
that hold catalogue photos and blocks every other file in them (a catalogue's
CSV, notes, anything not a photo), so a crafted URL reads no file but a
catalogue image. Uploads are capped at the size the decoder accepts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import gradio as gr

from fashion_search.catalog import is_photo_file
from fashion_search.config import Settings
from fashion_search.demo.app import CSS
from fashion_search.images import MAX_BYTES
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)

STREET_EXAMPLES = ("street2shop-dev", "person")
EXAMPLES = 4  # of each kind


def served_paths(images: Iterable[str | Path]) -> tuple[list[str], list[str]]:
    """(allowed paths, blocked paths) that serve exactly the catalogue's photos.

    Gradio checks each request against both lists in turn, so each folder is
    described the shorter way: the folder allowed with its other files blocked
    when it holds mostly catalogue photos, else the photos allowed one by one
    (a catalogue taken from part of a larger folder). The lists are taken when
    the page starts: a file added to an allowed folder later is served too.
    """
    photos = sorted({str(Path(p).resolve()) for p in images})
    by_folder: dict[str, list[str]] = {}
    for photo in photos:
        by_folder.setdefault(str(Path(photo).parent), []).append(photo)
    wanted = set(photos)
    allowed: list[str] = []
    blocked: list[str] = []
    for folder, members in sorted(by_folder.items()):
        others = [os.path.join(root, name) for root, _, names in os.walk(folder)
                  for name in names if os.path.join(root, name) not in wanted]
        if len(others) <= len(members):
            allowed.append(folder)
            blocked += others
        else:
            allowed += members
    return allowed, blocked


def catalogue_photos(store: CatalogStore) -> list[str]:
    """The photos of the live catalogue: what result cards show, so what the page serves."""
    return sorted({row["image_path"] for row in store.scan(store.current_collection(),
                                                           ["image_path"])})


def example_photos(settings: Settings, catalogue: Sequence[str], count: int = EXAMPLES
                   ) -> list[str]:
    """A few street photos (when there are any) and a few catalogue photos."""
    folder = (Path(settings.demo_examples) if settings.demo_examples
              else settings.data_dir.joinpath(*STREET_EXAMPLES))
    street = []
    if folder.is_dir():
        street = sorted(str(p) for p in folder.iterdir() if is_photo_file(p))[:count]
    return street + list(catalogue)[:count]


def launch(app: gr.Blocks, host: str, port: int | None, images: Iterable[str | Path],
           examples: Sequence[str | Path] = (), max_bytes: int = MAX_BYTES) -> gr.Blocks:
    """Start the page on ``host:port`` without blocking; it serves only catalogue photos.

    ``examples`` (photos outside the catalogue offered as examples) are allowed
    file by file, so a click on one can show it.
    """
    allowed, blocked = served_paths(images)
    allowed += [str(Path(p).resolve()) for p in examples]
    log.info("serving photos from %d folders (%d other files there blocked)", len(allowed),
             len(blocked))
    app.queue()  # the page's steps share one first-come-first-served queue (app.py)
    app.launch(server_name=host, server_port=port, allowed_paths=allowed, blocked_paths=blocked,
               max_file_size=max_bytes, prevent_thread_lock=True, show_error=False, quiet=True,
               css=CSS, footer_links=[])
    return app
