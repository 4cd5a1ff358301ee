"""The training recipe: typed, with defaults in code, saved beside every run."""

from __future__ import annotations

from dataclasses import dataclass, field

from fashion_search.config import DEFAULT_BACKBONE
from fashion_search.preprocessing import PreprocessConfig


@dataclass
class TrainConfig:
    """Defaults are the recipe that trains in well under an hour on a 2-core CPU.

    Data sources are paths; relative ones are read under the data folder
    (``FASHION_SEARCH_DATA``). ``categories`` train the classifier and a
    metric loss over categories; ``pairs`` and ``train_pairs`` train same-item
    retrieval, ``pairs`` keeping ``unseen_pairs`` of theirs for the report.
    """

    backbone: str = DEFAULT_BACKBONE
    weights: str | None = None
    embedding_dim: int = 512
    trainable_stages: int = 2
    loss: str = "triplet_hard"
    classifier_weight: float = 1.0
    epochs: int = 8
    pairs_per_batch: int = 16
    classes_per_batch: int = 8
    per_class: int = 4
    lr: float = 1e-3
    backbone_lr_scale: float = 0.3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    views: int = 4
    view_min_area: float = 0.6  # smallest share of the photo a random view crops
    view_erasing: float = 0.0  # chance that a view has a random patch hidden
    seed: int = 0
    # The contract's JPEG chroma upsampling ("fast" as nvJPEG, or "smooth" as PIL): the
    # model is trained on, and carries, the decode it will be served with.
    jpeg_upsampling: str = PreprocessConfig.jpeg_upsampling
    categories: list[str] = field(default_factory=lambda: ["clothing-dataset-small"])
    category_column: str | None = None
    # Product photos whose article types name one of the classes, trained on as those
    # classes (their catalogue's training part): the classes in a studio's framing too.
    mapped_products: str | None = None
    train_split: str = "train"
    validation_split: str = "validation"
    pairs: list[str] = field(default_factory=lambda: ["street2shop-dev"])
    unseen_pairs: int = 500
    # Pairs for training alone: none of them is ever scored as unseen.
    train_pairs: list[str] = field(default_factory=lambda: ["street2shop-train"])
    # Held out of ``train_pairs`` (or, without them, of the pairs trained on) to
    # choose recipes on, so the unseen pairs are scored once, not tuned to.
    validation_pairs: int = 300
    limit: int | None = None  # at most this many photos per category and pairs per side
    max_steps: int | None = None
    device: str = "auto"

    # Fields a resumed run may change without changing what is being trained.
    RESUMABLE_CHANGES = ("epochs", "max_steps", "device")


@dataclass
class GarmentTrainConfig:
    """The finder's recipe; the defaults train in a few minutes on a 2-core CPU."""

    street: str = "ccp-street"  # under the data folder unless absolute
    backbone: str = DEFAULT_BACKBONE
    width: int = 96
    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    tune_trunk: bool = True  # the trunk's last stage learns too (else the head alone: 3x faster)
    trunk_lr_scale: float = 0.1  # the tuned trunk stage learns this much slower than the head
    weight_decay: float = 1e-4
    min_share: float = 0.01
    seed: int = 0
    limit: int | None = None  # at most this many photos per split (quick runs, tests)

    @classmethod
    def quick(cls, **overrides: object) -> GarmentTrainConfig:
        """The head alone, briefly: minutes rather than the default's twenty on a 2-core CPU
        (what the demo trains when it finds no finder, and the tests' finder)."""
        return cls(**{"epochs": 8, "tune_trunk": False, **overrides})
