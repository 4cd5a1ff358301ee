"""The names the served models agree on: models, tensors and config parameters.

A module of its own, importing nothing, because the backend models that run
inside Triton's own Python (the GPU image has no Triton client library) need
the names but not the typed configs of :mod:`fashion_search.triton_config`.
"""

PREPROCESS = "preprocess"
EMBEDDER = "embedder"
ENSEMBLE = "embed_image"
INPUT_BYTES = "image_bytes"
PIXELS = "pixel_values"
EMBEDDING = "embedding"
CATEGORY_PROBS = "category_probs"
COLOUR = "colour"
COLOUR_PARAM = "colour_descriptor"
TEMPLATES_PARAM = "templates"
PREPROCESSING_PARAM = "preprocessing"
MODEL_VERSION_PARAM = "model_version"
METRIC_PARAM = "metric"
LABELS_PARAM = "labels"
SAME_ITEM_PARAM = "same_item"  # a street photo's match scale (same_item.py)

__all__ = [name for name in dir() if name.isupper()]
