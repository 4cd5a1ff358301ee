"""``train-garments``: the garment finder's head, trained on the labelled street photos.

The pretrained trunk's first stages stay frozen (they already tell cloth from skin
and wall), so their features are computed once per photo and its mirror image; the
last stage trains with the head at a fraction of its rate, or, in the quick recipe,
not at all, and then every tap is cached and the head alone trains in minutes. The
epoch and the score threshold are chosen on the validation tenth; the reporting tenth
is scored once, at the end.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from fashion_search.catalog import read_photo
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.garment_finder import TAPS, TUNED_FROM, GarmentFinder, kind_boxes, save_finder
from fashion_search.garments import CLASSES, FINDER_PREPROCESSING, FinderSettings, Garment, read_garments
from fashion_search.preprocessing import preprocess
from fashion_search.training.box_metrics import f1, score_boxes
from fashion_search.training.config import GarmentTrainConfig
from fashion_search.training.garment_data import (
    StreetPhoto,
    class_table,
    kind_truth,
    street_photos,
    target_map,
)
from fashion_search.training.plots import plot_boxes_by_kind, plot_training

log = logging.getLogger(__name__)

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
MIN_PATCHES = (1, 2, 3, 4)
GAPS = (-1, 0, 1, 2)  # -1: every box spans all its kind's patches (FinderSettings.gap)


@dataclass(frozen=True)
class GarmentTrainResult:
    checkpoint: Path
    out_dir: Path
    validation: list[dict]
    report: list[dict]
    threshold: float


class _Cached:
    """One split's frozen trunk features (float16), targets and photo sizes.

    With ``whole``, the trunk trains not at all and its every tap is cached; otherwise the
    cache stops where the tuned stages start.
    """

    def __init__(self, photos: list[StreetPhoto], model: GarmentFinder, table: np.ndarray,
                 flips: bool, progress: bool, desc: str, whole: bool = False):
        self.names, self.whole = [p.name for p in photos], whole
        early = sum(1 for tap in TAPS if tap < TUNED_FROM) + 1  # its taps and its output
        taps: list[list[torch.Tensor]] = [[] for _ in range(len(TAPS) if whole else early)]
        targets, self.sizes = [], []
        for photo in tqdm(photos, desc=desc, unit="photo", disable=not progress):
            data = read_photo(photo.path)
            pixels = torch.from_numpy(preprocess(data, FINDER_PREPROCESSING, photo.path.name))
            target = torch.from_numpy(target_map(photo.mask, table, FINDER_PREPROCESSING))
            with Image.open(photo.path) as image:
                self.sizes.append(image.size)
            batch = torch.stack([pixels, pixels.flip(-1)]) if flips else pixels[None]
            with torch.no_grad():
                found, x = model.trunk.early(batch)
                outputs = model.trunk.late(found, x) if whole else [*found, x]
                for store, tap in zip(taps, outputs):
                    store.extend(tap.half())
            targets.extend([target, target.flip(-1)] if flips else [target])
        self.taps = [torch.stack(t) for t in taps]
        self.targets = torch.stack(targets)

    def __len__(self) -> int:
        return len(self.targets)

    def logits(self, model: GarmentFinder, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(label-map logits, targets) of some photos, through the tuned stages and the head."""
        maps = [t[index].float() for t in self.taps]
        return (model.head(maps if self.whole else model.trunk.late(maps[:-1], maps[-1])),
                self.targets[index])


def _class_weights(targets: torch.Tensor) -> torch.Tensor:
    """Rarer classes weigh more (square root of the inverse frequency, capped), so a
    hat's few patches are not drowned by the background's many."""
    counts = torch.bincount(targets.flatten(), minlength=len(CLASSES)).float().clamp(min=1)
    weights = (counts.median() / counts).sqrt().clamp(0.2, 5.0)
    return weights / weights.mean()


def _all_logits(model: GarmentFinder, cached: _Cached) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([cached.logits(model, index)[0]
                          for index in torch.arange(len(cached)).split(64)])


def _found(logits: torch.Tensor, cached: _Cached, reading: FinderSettings
           ) -> dict[str, list[Garment]]:
    """The garments each photo's label map gives, read with ``reading``'s settings."""
    boxes, scores, shares = (t.numpy() for t in kind_boxes(logits, reading.min_patches,
                                                                  reading.gap))
    return {name: read_garments(boxes[i], scores[i], shares[i], *cached.sizes[i],
                                FINDER_PREPROCESSING, reading.threshold, reading.min_share)
            for i, name in enumerate(cached.names)}


def choose_reading(logits: torch.Tensor, cached: _Cached, truth: dict, base: FinderSettings
                   ) -> tuple[FinderSettings, list[dict]]:
    """The threshold and box rule with the best box F1 on ``cached`` (the validation tenth)."""
    readings = [replace(base, threshold=t, min_patches=m, gap=g) for t in THRESHOLDS
                for m in MIN_PATCHES for g in GAPS]
    scored = [(r, score_boxes(truth, _found(logits, cached, r))) for r in readings]
    return max(scored, key=lambda pair: f1(pair[1]))


def _write_rows(rows: list[dict], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def train_garments(config: GarmentTrainConfig | None = None, out_dir: Path | None = None,
                   settings: Settings | None = None, progress: bool = True) -> GarmentTrainResult:
    """Train the finder's head, choose its threshold on validation, report on the test tenth."""
    config = config or GarmentTrainConfig()
    settings = settings or load_settings()
    out_dir = Path(out_dir or settings.home / "garments")
    root = Path(config.street) if Path(config.street).is_absolute() else (
        settings.data_dir / config.street)
    torch.manual_seed(config.seed)
    photos = street_photos(root)
    table, truth = class_table(root), kind_truth(root)

    def split(name: str) -> list[StreetPhoto]:
        chosen = [p for p in photos if p.split == name]
        return chosen[:config.limit] if config.limit else chosen

    model = GarmentFinder(FinderSettings(backbone=config.backbone, width=config.width,
                                         min_share=config.min_share))
    model.trunk.eval().requires_grad_(False)  # its batch statistics stay ImageNet's
    tuned = [p for b in model.trunk.blocks[TUNED_FROM:] for p in b.parameters()
             ] if config.tune_trunk else []
    for parameter in tuned:
        parameter.requires_grad_(True)
    whole = not config.tune_trunk
    train = _Cached(split("train"), model, table, True, progress, "features (train)", whole)
    validation = _Cached(split("validation"), model, table, False, progress,
                         "features (validation)", whole)
    loss_fn = nn.CrossEntropyLoss(weight=_class_weights(train.targets))
    optimiser = torch.optim.AdamW(
        [{"params": model.head.parameters()}, {"params": tuned, "lr": config.lr * config.trunk_lr_scale}],
        lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * -(-len(train) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, [config.lr, config.lr * config.trunk_lr_scale], total_steps=steps)
    history, best = [], (-1.0, None)
    with tqdm(total=steps, desc="train-garments", unit="batch", disable=not progress) as bar:
        for epoch in range(config.epochs):
            model.head.train()
            total = 0.0
            for index in torch.randperm(len(train)).split(config.batch_size):
                logits, target = train.logits(model, index)
                logits = nn.functional.interpolate(logits, size=target.shape[-2:],
                                                   mode="bilinear", align_corners=False)
                loss = loss_fn(logits, target)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                schedule.step()
                total += float(loss.detach()) * len(index)
                bar.update()
                bar.set_postfix(epoch=f"{epoch + 1}/{config.epochs}", loss=f"{float(loss.detach()):.3f}")
            rows = score_boxes(truth, _found(_all_logits(model, validation), validation,
                                             model.settings))
            score = f1(rows)
            history.append({"epoch": epoch + 1, "loss": total / len(train),
                            "validation": {"box recall": rows[-1]["recall"],
                                           "box precision": rows[-1]["precision"]}})
            if score > best[0]:
                best = (score, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[1])
    reading, chosen = choose_reading(_all_logits(model, validation), validation, truth,
                                     model.settings)
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in best[1].values())).hexdigest()
    model.settings = replace(reading, version=f"garments-{config.backbone}-{digest[:10]}")
    threshold = reading.threshold
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = save_finder(model, out_dir / "finder.pt")
    del train  # the reporting tenth's features are made only now, once
    test = _Cached(split("test"), model, table, False, progress, "features (report)", whole)
    report = score_boxes(truth, _found(_all_logits(model, test), test, model.settings))
    _write_rows(chosen, out_dir / "validation_boxes.csv")
    _write_rows(report, out_dir / "report_boxes.csv")
    save_resolved_config(out_dir / "config.json", settings=settings, train_garments=config,
                         finder=model.settings.to_json())
    save_resolved_config(out_dir / "history.json", history=history)
    plot_training(history, out_dir / "training.png")
    plot_boxes_by_kind(report, out_dir / "report_boxes.png")
    log.info("garment finder %s: threshold %.2f, rows of %d patches, gap %d; on the reporting "
             "tenth box recall %s, precision %s", model.settings.version, threshold,
             reading.min_patches, reading.gap, report[-1]["recall"], report[-1]["precision"])
    return GarmentTrainResult(checkpoint, out_dir, chosen, report, threshold)
