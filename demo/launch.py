"""How the page listens and what it may serve: the catalogue's photos and nothing else.

The page serves exactly the photos that were indexed, by the paths the
catalogue recorded, as the page started: a route of its own answers Gradio's
file address (``/gradio_api/file=PATH``) for those paths and no other, ahead of
Gradio's route, and no catalogue folder is among Gradio's allowed paths, so a
file added to a catalogue folder later (an ``.html`` page, say) is refused like
any other. (Gradio checks every request against its allowed paths one by one,
resolving each on the disk: 9,461 photos listed there cost 0.3 to 0.6 s a
request, its cached copies included; this route's check is a set lookup.) A
photo goes out with the type its bytes are, never one taken from its name: a
recorded photo replaced by something that is not an image is not served at
all. Results and clicked photos reach the browser as copies in Gradio's cache
(app.py). Uploads are capped at the size the decoder accepts.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import gradio as gr
from gradio.route_utils import API_PREFIX
from PIL import Image
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from fashion_search.catalog import is_photo_file
from fashion_search.config import Settings
from fashion_search.demo.app import CSS
from fashion_search.images import FORMATS, MAX_BYTES
from fashion_search.vectordb.store import CatalogStore

log = logging.getLogger(__name__)

STREET_EXAMPLES = ("street2shop-dev", "person")
EXAMPLES = 4  # of each kind
# What each photo format is served as (MPO: a JPEG with more than one frame).
IMAGE_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
               "WEBP": "image/webp", "AVIF": "image/avif", "GIF": "image/gif",
               "BMP": "image/bmp", "TIFF": "image/tiff"}


@functools.cache
def _openers() -> tuple[str, ...]:
    """The photo formats this Pillow identifies (AVIF only from Pillow 11.2 on)."""
    Image.init()
    return tuple(name for name in FORMATS if name in Image.OPEN)


def image_type(path: str | Path) -> str | None:
    """The content type of the photo at ``path`` as its bytes say, or None if it is not one.

    Only the header is read. A file whose name says photo but whose bytes do
    not (a photo replaced by a page, say) gets None, so it is never served.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a huge photo's warning: only its type is wanted
            with Image.open(path, formats=_openers()) as image:
                return IMAGE_TYPES.get(image.format or "")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


class CataloguePhotos:
    """The photos the page serves: the indexed ones, by their recorded paths, as given."""

    def __init__(self, paths: Iterable[str | Path]):
        self._paths = frozenset(os.path.abspath(p) for p in paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, path: object) -> bool:
        """A set lookup of the normalised path: the cost does not grow with the catalogue."""
        return isinstance(path, (str, Path)) and os.path.abspath(path) in self._paths


class PhotoRoute(Route):
    """Gradio's file address for the catalogue's photos, and only for them.

    It matches a request only when the path named is a catalogue photo, so
    every other file address (Gradio's cache of uploads and shown results)
    goes on to Gradio's own route, which serves nothing of the catalogue.
    """

    def __init__(self, photos: CataloguePhotos):
        self.photos = photos
        super().__init__(f"{API_PREFIX}/file={{path:path}}", self.serve, methods=["GET"],
                         include_in_schema=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.NONE or child["path_params"]["path"] not in self.photos:
            return Match.NONE, {}
        return match, child

    def serve(self, request: Request) -> Response:
        """The photo inline, typed by its bytes; 404 when it is no longer a photo."""
        path = os.path.abspath(request.path_params["path"])
        kind = image_type(path) if os.path.isfile(path) else None
        if kind is None:
            log.warning("catalogue photo %s is missing or no longer an image; not served", path)
            return Response(status_code=404)
        return FileResponse(path, media_type=kind, headers={
            "Content-Disposition": "inline", "X-Content-Type-Options": "nosniff"})


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
           max_bytes: int = MAX_BYTES) -> gr.Blocks:
    """Start the page on ``host:port`` without blocking; it serves only the photos ``images``.

    ``images`` are the catalogue's recorded photo paths (``catalogue_photos``),
    taken once: a photo indexed later is shown through Gradio's cache but not
    served by its own path.
    """
    photos = CataloguePhotos(images)
    log.info("serving %d catalogue photos by their paths", len(photos))
    app.queue()  # the page's steps share one first-come-first-served queue (app.py)
    # The route goes in when the server is made, ahead of Gradio's routes.
    app.launch(server_name=host, server_port=port, max_file_size=max_bytes,
               prevent_thread_lock=True, show_error=False, quiet=True, css=CSS,
               footer_links=[], app_kwargs={"routes": [PhotoRoute(photos)]})
    return app
