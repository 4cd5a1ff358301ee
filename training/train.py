"""The ``train`` step: fine-tune the last backbone stages with a metric loss and a classifier.

The frozen early stages run once per view (see ``views.py``); every epoch
trains the remaining stages, the embedding projection and the category
classifier on those cached features. A checkpoint after every epoch lets
``resume`` continue a stopped run.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.training.augment import AugmentConfig
from fashion_search.training.backbone import EmbeddingModel, create_backbone, split_backbone
from fashion_search.training.checkpoint import LoadedModel, read_checkpoint, save_checkpoint
from fashion_search.training.config import TrainConfig
from fashion_search.training.data import TrainingData, load_training_data
from fashion_search.training.losses import MetricLoss, make_loss
from fashion_search.training.metrics import recall_at_k, sorted_relevance, top_k_accuracy
from fashion_search.training.plots import plot_training
from fashion_search.training.sampler import PairAndClassSampler
from fashion_search.training.views import TrunkRunner, cached_views, trunk_digest

log = logging.getLogger(__name__)

LAST = "last.pt"
MODEL = "model.pt"


@dataclass
class TrainResult:
    model_path: Path
    history: list[dict[str, Any]]
    seconds: float


@dataclass
class Features:
    """Cached trunk features for everything one run reads."""

    categorised: np.ndarray
    pairs: np.ndarray
    validation: np.ndarray
    queries: np.ndarray
    gallery: np.ndarray


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def compute_features(data: TrainingData, runner: TrunkRunner, key: str, config: TrainConfig,
                     contract: PreprocessConfig, cache_dir: Path, progress: bool) -> Features:
    def views(items, count, desc):
        return cached_views(items, count, runner, key, contract, AugmentConfig(), config.seed,
                            cache_dir, desc, progress)

    return Features(
        categorised=views(data.categorised, config.views, "category views"),
        pairs=views(data.pair_photos, config.views, "pair views"),
        validation=views(data.validation, 1, "validation photos"),
        queries=views(data.queries, 1, "unseen street photos"),
        gallery=views(data.gallery, 1, "product photos"),
    )


def _rows(features: np.ndarray, indices: list[int], rng: random.Random) -> np.ndarray:
    """One randomly chosen cached view per photo."""
    views = features.shape[1]
    return np.stack([features[i, rng.randrange(views)] for i in indices])


def _embed(model: EmbeddingModel, top: nn.Module, features: np.ndarray, device: torch.device
           ) -> tuple[np.ndarray, np.ndarray | None]:
    embeddings, logits = [], []
    with torch.no_grad():
        for start in range(0, len(features), 128):
            batch = torch.from_numpy(np.asarray(features[start:start + 128, 0], np.float32))
            embedding, logit = model.heads(top(batch.to(device)))
            embeddings.append(embedding.float().cpu().numpy())
            if logit is not None:
                logits.append(logit.float().cpu().numpy())
    return (np.concatenate(embeddings) if embeddings else np.zeros((0, model.embedding_dim)),
            np.concatenate(logits) if logits else None)


def validate(model: EmbeddingModel, top: nn.Module, data: TrainingData, features: Features,
             device: torch.device) -> dict[str, float]:
    """Street-to-shop recall on unseen pairs and classifier accuracy on held-out photos."""
    top.eval()
    report: dict[str, float] = {}
    if data.queries:
        queries, _ = _embed(model, top, features.queries, device)
        gallery, _ = _embed(model, top, features.gallery, device)
        relevant = np.zeros((len(queries), len(gallery)), dtype=bool)
        relevant[np.arange(len(queries)), data.matches] = True
        ranked = sorted_relevance(queries @ gallery.T, relevant)
        report.update({f"street2shop recall@{k}": recall_at_k(ranked, k) for k in (1, 10)})
    if data.validation and model.classifier is not None:
        _, logits = _embed(model, top, features.validation, device)
        report["classifier top-1"] = top_k_accuracy(logits, data.validation_index, 1)
    top.train()
    return report


def build_optimizer(model: EmbeddingModel, top: nn.Module, losses: list[MetricLoss],
                    config: TrainConfig, total_steps: int):
    heads = [p for m in (model.projection, model.classifier) if m is not None
             for p in m.parameters()]
    proxies = [p for loss in losses for p in loss.loss.parameters()]
    groups = [{"params": list(top.parameters()), "lr": config.lr * config.backbone_lr_scale},
              {"params": heads + proxies, "lr": config.lr}]
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _check_resumable(saved: dict, config: TrainConfig) -> None:
    ours = asdict(config)
    changed = [k for k, v in saved.items()
               if k not in TrainConfig.RESUMABLE_CHANGES and ours.get(k) != v]
    if changed:
        raise ValueError(f"cannot resume: the run was started with different {changed}; "
                         "start a new run (without --resume) or use the same settings")


def train(
    config: TrainConfig | None = None, out_dir: Path | None = None, resume: bool = False,
    progress: bool = True, settings: Settings | None = None, **overrides: Any,
) -> TrainResult:
    """Train; ``overrides`` are :class:`TrainConfig` fields (``epochs=3``)."""
    settings = settings or load_settings()
    config = config or TrainConfig()
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise TypeError(f"unknown training setting {key!r}")
        setattr(config, key, value)
    out_dir = Path(out_dir or settings.home / "training")
    last = out_dir / LAST
    if resume and not last.is_file():
        raise FileNotFoundError(f"{last}: nothing to resume; start without --resume")
    started = time.monotonic()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    contract = PreprocessConfig()

    data = load_training_data(config, settings.data_dir)
    backbone = create_backbone(config.backbone, pretrained=config.weights is None,
                               weights=Path(config.weights) if config.weights else None)
    model = EmbeddingModel(backbone, config.embedding_dim, data.labels)
    trunk, top = split_backbone(model.backbone, config.trainable_stages)
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    runner = TrunkRunner(trunk, contract, device, settings.cache_dir / "trunks")
    features = compute_features(data, runner, trunk_digest(trunk), config, contract,
                                settings.cache_dir / "views", progress)
    model.to(device)

    pair_loss = make_loss(config.loss, data.pair_count, model.embedding_dim)
    category_loss = make_loss(config.loss, len(data.labels), model.embedding_dim)
    losses = [pair_loss, category_loss]
    for loss in losses:
        loss.loss.to(device)
    sampler = PairAndClassSampler(data.pair_count, data.category_index, config.pairs_per_batch,
                                  config.classes_per_batch, config.per_class, config.seed)
    total_steps = config.epochs * len(sampler)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    optimizer, scheduler = build_optimizer(model, top, losses, config, total_steps)

    history: list[dict[str, Any]] = []
    first_epoch, step = 0, 0
    if resume:
        saved = read_checkpoint(last)
        _check_resumable(saved["config"], config)
        model.load_state_dict(saved["state_dict"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        for loss, state in zip(losses, saved["losses"]):
            loss.loss.load_state_dict(state)
        history, first_epoch, step = saved["history"], saved["epoch"] + 1, saved["step"]
        log.info("resuming after epoch %d (step %d)", saved["epoch"] + 1, step)
    save_resolved_config(out_dir / "config.json", settings=settings, train=config)

    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))
    cross_entropy = nn.CrossEntropyLoss()
    top.train()
    batch_photos = 2 * sampler.pairs + sampler.classes * sampler.per_class
    for epoch in range(first_epoch, config.epochs):
        if config.max_steps and step >= config.max_steps:
            break
        rng = random.Random(f"{config.seed}:views:{epoch}")
        sums = {"loss": 0.0, "metric_loss": 0.0, "classifier_loss": 0.0}
        steps_done = 0
        bar = tqdm(total=len(sampler) * batch_photos, desc=f"epoch {epoch + 1}/{config.epochs}",
                   unit="photo", disable=not progress)
        for batch in sampler.epoch(epoch):
            if config.max_steps and step >= config.max_steps:
                break
            pair_rows = [2 * p + side for p in batch.pairs for side in (0, 1)]
            parts = [_rows(features.pairs, pair_rows, rng)] if pair_rows else []
            if batch.categorised:
                parts.append(_rows(features.categorised, batch.categorised, rng))
            inputs = torch.from_numpy(np.concatenate(parts).astype(np.float32)).to(device)
            with amp:
                embeddings, logits = model.heads(top(inputs))
            embeddings = embeddings.float()
            split = len(pair_rows)
            metric = torch.zeros((), device=device)
            if pair_rows:
                pair_labels = torch.tensor([p for p in batch.pairs for _ in (0, 1)], device=device)
                metric = metric + pair_loss(embeddings[:split], pair_labels)
            classifier = torch.zeros((), device=device)
            if batch.categorised:
                labels = torch.tensor([data.category_index[i] for i in batch.categorised],
                                      device=device)
                metric = metric + category_loss(embeddings[split:], labels)
                classifier = cross_entropy(logits[split:].float(), labels)
            loss = metric + config.classifier_weight * classifier
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            steps_done += 1
            for key, value in (("loss", loss), ("metric_loss", metric),
                               ("classifier_loss", classifier)):
                sums[key] += value.detach().item()
            bar.update(len(inputs))
            bar.set_postfix(loss=f"{sums['loss'] / steps_done:.3f}",
                            lr=f"{scheduler.get_last_lr()[-1]:.1e}")
        bar.close()
        record = {"epoch": epoch + 1, "step": step,
                  **{k: v / max(1, steps_done) for k, v in sums.items()},
                  "validation": validate(model, top, data, features, device)}
        history.append(record)
        log.info("epoch %d: %s", epoch + 1, record)
        loaded = LoadedModel(model, config.backbone, contract, "finetuned", asdict(config))
        save_checkpoint(last, loaded, {
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "losses": [loss.loss.state_dict() for loss in losses], "epoch": epoch,
            "step": step, "history": history,
        })
        plot_training(history, out_dir / "training-curves.png")
    model.cpu()
    loaded = LoadedModel(model.eval(), config.backbone, contract, "finetuned", asdict(config))
    final = save_checkpoint(out_dir / (MODEL + ".tmp"), loaded, {"history": history})
    shutil.move(final, out_dir / MODEL)
    save_resolved_config(out_dir / "history.json", history=history)
    seconds = time.monotonic() - started
    log.info("trained in %.0f s; model at %s", seconds, out_dir / MODEL)
    return TrainResult(out_dir / MODEL, history, seconds)
