"""The Gradio page: upload a photo, pick a category and K, see look-alikes."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from fashion_search.colour import DEFAULT_WEIGHT
from fashion_search.errors import FashionSearchError, ImageError
from fashion_search.images import load_image
from fashion_search.search import AUTO, VisualSearch

log = logging.getLogger(__name__)

ALL = "All categories"
AUTO_LABEL = "Auto (what the photo most likely shows)"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SLIDER_MAX = 0.3  # beyond it colour outweighs shape (README figures); the API takes up to 1


def _caption(hit) -> str:
    match = f"{hit.match:.0%} match" if hit.match is not None else f"{hit.score:.3f}"
    return f"{hit.category} · {match}"


def run_query(search: VisualSearch, upload: str | None, category: str, k: float,
              colour_weight: float = DEFAULT_WEIGHT):
    """One search from the page; every failure becomes a message, not a traceback."""
    if not upload:
        return None, [], "Upload a photo (JPEG, PNG or WebP) or click one of the examples."
    path = Path(upload)
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise ImageError(f"{name}: the file is {size / 1e6:.0f} MB; upload one under "
                             f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        data = path.read_bytes()
        preview = load_image(data, name=name, draft_size=512)
        preview.thumbnail((512, 512))
        wanted = {None: None, "": None, ALL: None, AUTO_LABEL: AUTO}.get(category, category)
        results = search.find(data, k=int(k), category=wanted, name=name,
                              colour_weight=float(colour_weight))
    except FashionSearchError as err:
        return None, [], f"**Could not search:** {err}"
    gallery = [(hit.image_path, _caption(hit)) for hit in results.hits]
    where = f" in **{results.category}**" if results.category else ""
    message = f"{len(results.hits)} similar items{where} for *{name}*."
    if results.suggestions:
        message += " Looks like: " + ", ".join(f"{c} ({p:.0%})" for c, p in results.suggestions)
    return preview, gallery, message


def build_app(search: VisualSearch, title: str = "Fashion visual search") -> gr.Blocks:
    categories = [ALL, AUTO_LABEL, *search.categories()]
    count = search.store.count()
    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\nFind catalogue items that look like your photo. "
                    f"{count:,} items in {len(search.categories())} categories; "
                    f"model `{search.client.info().version}`.")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Photo", file_types=["image"], type="filepath",
                                 elem_id="photo")
                category = gr.Dropdown(categories, value=ALL, label="Category",
                                       elem_id="category")
                k = gr.Slider(1, 50, value=12, step=1, label="Results (K)", elem_id="k")
                shade = gr.Slider(0, SLIDER_MAX, value=DEFAULT_WEIGHT, step=0.01,
                                  label="Colour weight (0: shape only)", elem_id="colour")
                button = gr.Button("Search", variant="primary", elem_id="search")
            with gr.Column(scale=1):
                preview = gr.Image(label="Your photo", interactive=False, elem_id="preview")
                status = gr.Markdown(elem_id="status")
        gallery = gr.Gallery(label="Similar items", columns=6, height="auto",
                             elem_id="results", object_fit="contain")
        examples = [p for p in search.store.example_paths(4) if Path(p).is_file()]
        if examples:
            gr.Examples(examples=[[p] for p in examples], inputs=[upload], label="Try one")

        def handler(file, chosen, top_k, weight):
            return run_query(search, file, chosen, top_k, weight)

        outputs = [preview, gallery, status]
        inputs = [upload, category, k, shade]
        button.click(handler, inputs, outputs)
        upload.change(handler, inputs, outputs)
        category.change(handler, inputs, outputs)
    return app

