"""The Gradio page: a photo in (upload, camera, clipboard, a box drawn on it), look-alike
catalogue items out, narrowed by category, any label column and colour.

Every step the page takes (a new photo, a corner clicked, a result clicked,
back, a filter changed) runs the one search path, ``VisualSearch.find``.
Catalogue text reaches the page's markdown only through ``cards.literal``, and
catalogue photos reach the browser as copies in Gradio's cache (launch.py
keeps the catalogue's folders out of Gradio's allowed paths).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import tempfile
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from fashion_search.colour import DEFAULT_WEIGHT
from fashion_search.demo.cards import caption, filter_columns, literal, title_column, where
from fashion_search.demo.query import Query, push
from fashion_search.errors import (
    FashionSearchError,
    MilvusFailure,
    MilvusUnavailable,
    TritonFailure,
    TritonTimeout,
    TritonUnavailable,
)
from fashion_search.images import MAX_BYTES, load_image
from fashion_search.serving.search import AUTO, VisualSearch

log = logging.getLogger(__name__)

# Failures of the services behind the page, logged as well as shown.
SERVICE_FAULTS = (MilvusFailure, MilvusUnavailable, TritonFailure, TritonTimeout, TritonUnavailable)

ALL = "All categories"
AUTO_LABEL = "Auto (what the photo most likely shows)"
PREVIEW = 256  # pixels: the searched part is shown small
CACHE_HOURS = 1  # uploads and result copies older than this leave Gradio's cache
SLIDER_MAX = 0.3  # beyond it colour outweighs shape (docs/training.md); the API takes up to 1
DEFAULT_K = 12
CSS = """
#results .grid-wrap { max-height: none; min-height: 0; overflow-y: visible; }
#results .caption-label { white-space: pre-line; text-align: left; line-height: 1.25;
  max-width: 100%; overflow: hidden; }
#results .thumbnail-item, #examples .thumbnail-item { cursor: pointer; }
@media (max-width: 640px) { #results .grid-container { --grid-cols: 2 !important; } }
"""


def _as_sent(image: gr.Image, payload) -> str | None:
    """The uploaded file's path, or a data URL (an API client's photo) written to a file."""
    if payload is None:
        return None
    if payload.url and payload.url.startswith("data:"):
        head, _, body = payload.url.partition(",")
        if len(body) * 3 // 4 > MAX_BYTES:
            raise gr.Error(f"the photo is over {MAX_BYTES // 2**20} MB; send a smaller one")
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as err:
            raise gr.Error(f"the photo's data URL is not valid base64 ({err})") from err
        suffix = "." + re.sub(r"\W", "", head.split("/")[-1].split(";")[0])[:8]
        with tempfile.NamedTemporaryFile(dir=image.GRADIO_CACHE, suffix=suffix,
                                         delete=False) as out:
            out.write(data)
        return out.name
    return payload.path


def photo_input(**options: Any) -> gr.Image:
    """An image input that hands the handler the file exactly as it was sent.

    ``gr.Image`` opens every upload with PIL first, so an empty or unreadable
    file would fail inside Gradio with no message; the project's own decoder
    (``images.load_image``) gives the clear one, and EXIF, CMYK, 16-bit and
    alpha are handled the way the server handles them. (A subclass would do,
    but Gradio writes a ``.pyi`` stub beside any module that subclasses a
    component.)
    """
    image = gr.Image(type="filepath", **options)
    image.preprocess = types.MethodType(_as_sent, image)
    return image


@dataclass
class Page:
    """The page's search: one call per step, every failure a message."""

    search: VisualSearch
    columns: list[str]  # label columns offered as filters, in the order of their dropdowns
    title: str | None = None  # the label that names an item
    max_bytes: int = MAX_BYTES
    # a catalogue photo -> the file the page shows (build_app: a copy in Gradio's cache);
    # None when it cannot be read
    shown: Callable[[str], str | None] = str

    def spot(self, query: Query) -> Query:
        """The garments the finder sees on a new photo, the largest searched at once; the
        whole photo when there is no finder, it sees none, or it cannot be reached."""
        if self.search.finder is None:
            return query
        try:
            return query.found(self.search.finder.find(query.read(self.max_bytes), query.name))
        except FashionSearchError as err:  # the search itself then says what is wrong
            log.warning("no garments found on %s: %s", query.name, err)
            return query

    def garments_view(self, query: Query | None) -> object:
        """The photo with the garments found drawn on it, each box clickable."""
        if query is None or not query.garments:
            return gr.update(value=None, visible=False)
        try:
            image = load_image(Path(query.path).read_bytes(), name=query.name)
        except (OSError, FashionSearchError):
            return gr.update(value=None, visible=False)
        return gr.update(value=(image, [(g.box, g.kind) for g in query.garments]), visible=True)

    def run(self, query: Query | None, category: str | None, k: float, weight: float,
            chosen: Sequence[Sequence[str] | None]) -> tuple[list, str, list, object]:
        """Gallery items, the message above them, the hits' (id, path) and the crop shown."""
        if query is None:
            return [], "Upload a photo, take one with the camera, paste one, or pick an example.", \
                [], gr.update(visible=False)
        if query.corner is not None:
            x, y = query.corner
            return gr.update(), (f"Corner set at ({x}, {y}). Click the opposite corner of the "
                                 "garment to search inside the box."), gr.update(), gr.update()
        filters = where(self.columns, chosen)
        wanted = {None: None, "": None, ALL: None, AUTO_LABEL: AUTO}.get(category, category)
        try:
            data = query.read(self.max_bytes)
            crop = load_image(data, name=query.name, draft_size=PREVIEW) if query.box else None
            results = self.search.find(data, k=int(k or DEFAULT_K), category=wanted,
                                       name=query.name, where=filters or None,
                                       colour_weight=float(DEFAULT_WEIGHT if weight is None
                                                           else weight))
        except FashionSearchError as err:
            if isinstance(err, SERVICE_FAULTS):  # the operator's to see, not only the visitor's
                log.warning("search for %s failed: %s", query.name, err)
            return [], f"**Could not search:** {literal(err)}", [], gr.update(visible=False)
        except Exception as err:  # a service failing mid-search: say so, keep the page
            log.exception("search for %s failed", query.name)
            return [], (f"**Could not search:** {literal(f'{type(err).__name__}: {err}')}. Check "
                        "that Triton and Milvus are up (the server log has the details), then "
                        "try again."), [], gr.update(visible=False)
        cards = [(hit, self.shown(hit.image_path)) for hit in results.hits]
        cards = [(hit, photo) for hit, photo in cards if photo]  # a photo gone since indexing
        gallery = [(photo, caption(hit, self.columns, self.title)) for hit, photo in cards]
        return gallery, self._message(query, results, wanted, filters), \
            [(hit.id, hit.image_path) for hit, _ in cards], \
            gr.update(value=crop, visible=crop is not None)

    @staticmethod
    def _message(query: Query, results, wanted: str | None, filters: dict) -> str:
        """The status line; every catalogue or upload name in it goes through ``literal``."""
        part = (f" (the {literal(query.garment)} found in it)" if query.garment
                else " (the box you drew)" if query.box else "")
        where_text = ""
        if results.category:
            where_text = (f" in **{literal(results.category)}**"
                          + (" (guessed)" if wanted == AUTO else ""))
        if filters:
            where_text += " with " + "; ".join(
                f"{literal(c)}: {', '.join(map(literal, v))}" for c, v in filters.items())
        name = literal(query.name)
        if not results.hits:
            return (f"No items{where_text} for *{name}*{part}: no catalogue item has all "
                    "of these labels. Remove a filter or choose another category.")
        shade = (f"colour weight {results.colour_weight:g}" if results.colour_weight
                 else "shape only")
        message = f"{len(results.hits)} similar items{where_text} for *{name}*{part}; {shade}."
        if results.suggestions:
            message += " Looks like: " + ", ".join(f"{literal(c)} ({p:.0%})"
                                                   for c, p in results.suggestions)
        return message


def _header(search: VisualSearch, title: str) -> str:
    count, categories = search.store.count(), search.categories()
    version = search.client.info().version.replace("`", "")
    return (f"# {literal(title)}\nFind catalogue items that look like your photo: upload one, "
            f"take one with the camera or paste one. The garments found on it are drawn as "
            f"boxes and the largest is searched; click another to search it, or click two "
            f"corners on the photo to search inside your own box. Click a result to search "
            f"from it. {count:,} items in "
            f"{len(categories)} categories; model `{version}`.")  # a code span is literal


def cached_copy(block: gr.components.Component) -> Callable[[str], str | None]:
    """A catalogue photo -> its copy in Gradio's cache, the only way the page shows one.

    Gradio serves its cache; the catalogue's folders are not among its allowed
    paths (launch.py). The copy is Gradio's own (named by the photo's hash,
    reused while it is in the cache); None for a photo gone since indexing.
    """
    def copy(path: str) -> str | None:
        if not os.path.isfile(path):
            log.warning("photo %s is no longer there; left out of the results", path)
            return None
        try:
            return block.move_resource_to_block_cache(path)
        except OSError as err:
            log.warning("photo %s cannot be read (%s); left out of the results", path, err)
            return None

    return copy


def build_app(search: VisualSearch, title: str = "Fashion visual search",
              examples: Sequence[str | Path] = (), max_bytes: int = MAX_BYTES) -> gr.Blocks:
    """The page for ``search``'s catalogue; ``examples`` are photos offered as thumbnails."""
    catalogue_labels = search.store.labels()
    labels = filter_columns(catalogue_labels)
    examples = [str(p) for p in examples if Path(p).is_file()]
    with gr.Blocks(title=title, analytics_enabled=False,
                   delete_cache=(CACHE_HOURS * 3600, CACHE_HOURS * 3600)) as app:
        # markdown with catalogue text in it: no LaTeX ($$ in a name would become a formula)
        gr.Markdown(_header(search, title), latex_delimiters=[])
        query, history, hits = gr.State(None), gr.State([]), gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                photo = photo_input(label="Your photo (click two corners to search part of it)",
                                    sources=["upload", "webcam", "clipboard"], height=340,
                                    elem_id="photo", webcam_options=gr.WebcamOptions(mirror=False))
                with gr.Row():
                    back = gr.Button("← Back", elem_id="back", interactive=False, size="sm",
                                     min_width=80)
                    whole = gr.Button("Whole photo", elem_id="whole", size="sm", min_width=80)
                garments = gr.AnnotatedImage(label="Garments found (click one to search it)",
                                             height=340, visible=False, elem_id="garments")
                searched = gr.Image(label="Searching this part", interactive=False, height=140,
                                    visible=False, elem_id="searched")
                category = gr.Dropdown([ALL, AUTO_LABEL, *search.categories()], value=ALL,
                                       label="Category", elem_id="category")
                shade = gr.Slider(0, SLIDER_MAX, value=DEFAULT_WEIGHT, step=0.01,
                                  label="Colour weight (0: shape only)", elem_id="colour")
                k = gr.Slider(1, 50, value=DEFAULT_K, step=1, label="Results", elem_id="k")
                if examples:
                    gallery = gr.Gallery([(p, "") for p in examples], label="Try one",
                                         columns=4, height=130, allow_preview=False,
                                         object_fit="cover", elem_id="examples")
            with gr.Column(scale=3, min_width=300):
                status = gr.Markdown(elem_id="status", latex_delimiters=[])
                results = gr.Gallery(label="Similar items (click one to search from it)",
                                     columns=4, height="auto", allow_preview=False,
                                     object_fit="contain", elem_id="results")
                with gr.Accordion("Filters", open=True, elem_id="filters"), \
                        gr.Row(equal_height=False):
                    dropdowns = [gr.Dropdown(values, multiselect=True, label=column,
                                             min_width=150, elem_id="filter-" +
                                             re.sub(r"\W", "_", column))
                                 for column, values in labels.items()]
        shown = cached_copy(results)
        page = Page(search, list(labels), title_column(catalogue_labels), max_bytes, shown)
        controls = [category, k, shade, *dropdowns]
        outputs = [photo, results, status, query, history, back, searched, hits, garments]

        def show(current: Query | None, past: list[Query], values: Sequence,
                 photo_value=None) -> tuple:
            items, message, found, part = page.run(current, values[0], values[1], values[2],
                                                   values[3:])
            photo_value = shown(photo_value) if photo_value is not None else None
            return (gr.update() if photo_value is None else photo_value, items, message,
                    current, past, gr.update(interactive=bool(past)), part, found,
                    page.garments_view(current))

        def new_photo(path, current, past, *values):
            if not path:
                return show(None, past, values)
            name = Path(path).name
            return show(page.spot(Query.of(path, name)), push(past, current), values)

        def corner(evt: gr.SelectData, current, past, *values):
            if current is None:
                return show(None, past, values)
            try:
                clicked = current.click(*evt.index)  # a box already drawn stays until replaced
            except FashionSearchError as err:
                return (gr.update(), gr.update(), f"**Could not search:** {literal(err)}",
                        current.settled(), past, gr.update(), gr.update(), gr.update(),
                        gr.update())
            return show(clicked, past, values)

        def from_result(evt: gr.SelectData, found, current, past, *values):
            item_id, path = found[evt.index]
            return show(Query.of(path, item_id), push(past, current), values, photo_value=path)

        def from_example(evt: gr.SelectData, current, past, *values):
            path = examples[evt.index]
            return show(page.spot(Query.of(path)), push(past, current), values, photo_value=path)

        def from_garment(evt: gr.SelectData, current, past, *values):
            if current is None or not 0 <= evt.index < len(current.garments):
                return show(current, past, values)
            return show(current.pick(evt.index), push(past, current), values)

        def go_back(current, past, *values):
            if not past:
                return show(current, past, values)
            previous = past[-1]
            return show(previous, past[:-1], values, photo_value=previous.path)

        def again(current, past, *values):
            return show(current, past, values)

        def whole_photo(current, past, *values):
            return show(current.whole() if current else None, past, values)

        # Every step reads the page's state when it runs, so steps must run in the order they
        # were taken: a filter moved during a search then applies to the new query. One queue,
        # first come first served; on a CPU, overlapping searches gain little anyway.
        state, order = [query, history, *controls], {"concurrency_id": "page",
                                                     "concurrency_limit": 1}
        photo.upload(new_photo, [photo, *state], outputs, **order)
        photo.clear(lambda current, past, *values: show(None, past, values), state, outputs,
                    **order)
        photo.select(corner, state, outputs, **order)
        results.select(from_result, [hits, *state], outputs, **order)
        garments.select(from_garment, state, outputs, **order)
        if examples:
            gallery.select(from_example, state, outputs, **order)
        back.click(go_back, state, outputs, **order)
        whole.click(whole_photo, state, outputs, **order)
        for control in controls:
            control.change(again, state, outputs, **order)
    return app

