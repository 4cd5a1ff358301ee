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
# The garment finder, served from a repository of its own beside the embedder's.
FINDER = "find_garments"  # photo bytes in, a box, score and share per garment kind out
FINDER_NETWORK = "garment_finder"
FINDER_PREPROCESS = "preprocess_garments"
GARMENT_BOXES = "garment_boxes"
GARMENT_SCORES = "garment_scores"
GARMENT_SHARES = "garment_shares"
FINDER_PARAM = "finder"  # the finder's settings: kinds' threshold, smallest share, version

__all__ = [name for name in dir() if name.isupper()]
