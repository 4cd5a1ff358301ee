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
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fashion_search import colour
from fashion_search.backbone import EmbeddingModel, create_backbone, native_size, split_backbone
from fashion_search.checkpoint import (
    LAST_FILE,
    MODEL_FILE,
    LoadedModel,
    read_checkpoint,
    save_checkpoint,
)
from fashion_search.config import Settings, load_settings, save_resolved_config
from fashion_search.errors import RecipeError
from fashion_search.preprocessing import PreprocessConfig
from fashion_search.training.augment import AugmentConfig
from fashion_search.training.config import TrainConfig
from fashion_search.training.data import TrainingData, load_training_data
from fashion_search.training.losses import LOSSES, MetricLoss, make_loss
from fashion_search.training.match_scale import fit_match_scale
from fashion_search.training.metrics import recall_at_k, sorted_relevance, top_k_accuracy
from fashion_search.training.plots import plot_match_scale, plot_training
from fashion_search.training.sampler import PairAndClassSampler
from fashion_search.training.views import TrunkRunner, cached_views

log = logging.getLogger(__name__)


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


def compute_features(data: TrainingData, runner: TrunkRunner, config: TrainConfig,
                     contract: PreprocessConfig, cache_dir: Path, progress: bool) -> Features:
    def views(items, count, desc):
        augment = AugmentConfig(min_area=config.view_min_area, erasing=config.view_erasing)
        return cached_views(items, count, runner, contract, augment, config.seed,
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
    """Street-to-shop recall on the validation pairs and classifier accuracy on held-out photos."""
    top.eval()
    report: dict[str, float] = {}
    if data.queries:
        queries, _ = _embed(model, top, features.queries, device)
        gallery, _ = _embed(model, top, features.gallery, device)
        relevant = np.zeros((len(queries), len(gallery)), dtype=bool)
        relevant[np.arange(len(queries)), data.matches] = True
        ranked = sorted_relevance(queries @ gallery.T, relevant)
        report.update({f"validation pairs recall@{k}": recall_at_k(ranked, k) for k in (1, 10)})
    if data.validation and model.classifier is not None:
        _, logits = _embed(model, top, features.validation, device)
        report["classifier top-1"] = top_k_accuracy(logits, data.validation_index, 1)
    top.train()
    return report


def build_optimizer(model: EmbeddingModel, top: nn.Module, losses: list[MetricLoss],
                    config: TrainConfig, total_steps: int
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
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
        raise RecipeError(f"cannot resume: the run was started with different {changed}; "
                         "start a new run (without --resume) or use the same settings")


@dataclass
class Run:
    """Everything one training run updates, built once and restored on resume."""

    config: TrainConfig
    data: TrainingData
    features: Features
    model: EmbeddingModel
    top: nn.Module
    pair_loss: MetricLoss
    category_loss: MetricLoss
    sampler: PairAndClassSampler
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    device: torch.device
    step: int = 0

    @property
    def losses(self) -> list[MetricLoss]:
        return [self.pair_loss, self.category_loss]


def build_run(config: TrainConfig, settings: Settings, contract: PreprocessConfig,
              progress: bool) -> Run:
    """Data, model (trunk frozen), cached views, losses, sampler and optimizer."""
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    data = load_training_data(config, settings.data_dir)
    backbone = create_backbone(config.backbone, pretrained=config.weights is None,
                               weights=Path(config.weights) if config.weights else None)
    model = EmbeddingModel(backbone, config.embedding_dim, data.labels)
    trunk, top = split_backbone(model.backbone, config.trainable_stages)
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    runner = TrunkRunner(trunk, contract, device, settings.cache_dir / "trunks")
    features = compute_features(data, runner, config, contract,
                                settings.cache_dir / "views", progress)
    model.to(device)
    pair_loss = make_loss(config.loss, data.pair_count, model.embedding_dim)
    category_loss = make_loss(config.loss, len(data.labels), model.embedding_dim)
    for loss in (pair_loss, category_loss):
        loss.loss.to(device)
    sampler = PairAndClassSampler(data.pair_count, data.category_index, config.pairs_per_batch,
                                  config.classes_per_batch, config.per_class, config.seed)
    total_steps = config.epochs * len(sampler)
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    optimizer, scheduler = build_optimizer(model, top, [pair_loss, category_loss], config,
                                           total_steps)
    return Run(config, data, features, model, top, pair_loss, category_loss, sampler,
               optimizer, scheduler, device)


def resumable(path: Path, config: TrainConfig) -> dict[str, Any]:
    """A stopped run's saved state, checked before any photo is read."""
    if not path.is_file():
        raise RecipeError(f"{path}: nothing to resume; start without --resume")
    saved = read_checkpoint(path)
    _check_resumable(saved["config"], config)
    return saved


def restore(run: Run, saved: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Load a stopped run's state; returns (history, next epoch)."""
    run.model.load_state_dict(saved["state_dict"])
    run.optimizer.load_state_dict(saved["optimizer"])
    run.scheduler.load_state_dict(saved["scheduler"])
    for loss, state in zip(run.losses, saved["losses"]):
        loss.loss.load_state_dict(state)
    run.step = saved["step"]
    log.info("resuming after epoch %d (step %d)", saved["epoch"] + 1, run.step)
    return saved["history"], saved["epoch"] + 1


def train_step(run: Run, pairs: list[int], categorised: list[int], rng: random.Random
               ) -> dict[str, float]:
    """One optimiser step on a batch of pairs and categorised photos; the batch's losses."""
    device = run.device
    pair_rows = [2 * p + side for p in pairs for side in (0, 1)]
    parts = [_rows(run.features.pairs, pair_rows, rng)] if pair_rows else []
    if categorised:
        parts.append(_rows(run.features.categorised, categorised, rng))
    inputs = torch.from_numpy(np.concatenate(parts).astype(np.float32)).to(device)
    amp = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))
    with amp:
        embeddings, logits = run.model.heads(run.top(inputs))
    embeddings = embeddings.float()
    split = len(pair_rows)
    metric = torch.zeros((), device=device)
    classifier = torch.zeros((), device=device)
    if pair_rows:
        pair_labels = torch.tensor([p for p in pairs for _ in (0, 1)], device=device)
        metric = metric + run.pair_loss(embeddings[:split], pair_labels)
    if categorised:
        labels = torch.tensor([run.data.category_index[i] for i in categorised], device=device)
        metric = metric + run.category_loss(embeddings[split:], labels)
        classifier = nn.functional.cross_entropy(logits[split:].float(), labels)
    loss = metric + run.config.classifier_weight * classifier
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    run.step += 1
    return {"loss": loss.item(), "metric_loss": metric.item(),
            "classifier_loss": classifier.item(), "photos": len(inputs)}


def train_epoch(run: Run, epoch: int, progress: bool) -> dict[str, Any]:
    """One pass over the training pairs; the epoch's mean losses and validation figures."""
    config, sampler = run.config, run.sampler
    started = time.monotonic()
    rng = random.Random(f"{config.seed}:views:{epoch}")
    sums = {"loss": 0.0, "metric_loss": 0.0, "classifier_loss": 0.0}
    steps = 0
    per_batch = 2 * sampler.pairs + sampler.classes * sampler.per_class
    run.top.train()
    with tqdm(total=len(sampler) * per_batch, desc=f"epoch {epoch + 1}/{config.epochs}",
              unit="photo", disable=not progress) as bar:
        for batch in sampler.epoch(epoch):
            if config.max_steps and run.step >= config.max_steps:
                break
            result = train_step(run, batch.pairs, batch.categorised, rng)
            steps += 1
            for key in sums:
                sums[key] += result[key]
            bar.update(result["photos"])
            bar.set_postfix(loss=f"{sums['loss'] / steps:.3f}",
                            lr=f"{run.scheduler.get_last_lr()[-1]:.1e}")
    return {"epoch": epoch + 1, "step": run.step,
            **{k: v / max(1, steps) for k, v in sums.items()},
            "seconds": round(time.monotonic() - started, 1),
            "validation": validate(run.model, run.top, run.data, run.features, run.device)}


def train(
    config: TrainConfig | None = None, out_dir: Path | None = None, resume: bool = False,
    progress: bool = True, settings: Settings | None = None, **overrides: Any,
) -> TrainResult:
    """Train; ``overrides`` are :class:`TrainConfig` fields (``epochs=3``)."""
    settings = settings or load_settings()
    config = config or TrainConfig()
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise RecipeError(f"unknown training setting {key!r}")
        setattr(config, key, value)
    if config.loss not in LOSSES:  # before any photo is read
        raise RecipeError(f"unknown loss {config.loss!r}; choose one of {sorted(LOSSES)}")
    out_dir = Path(out_dir or settings.training_dir)
    last = out_dir / LAST_FILE
    saved = resumable(last, config) if resume else None
    started = time.monotonic()
    contract = PreprocessConfig(size=native_size(config.backbone),
                                jpeg_upsampling=config.jpeg_upsampling)
    run = build_run(config, settings, contract, progress)
    history: list[dict[str, Any]] = []
    first_epoch = 0
    if saved is not None:
        history, first_epoch = restore(run, saved)
    save_resolved_config(out_dir / "config.json", settings=settings, train=config)

    for epoch in range(first_epoch, config.epochs):
        if config.max_steps and run.step >= config.max_steps:
            break
        history.append(train_epoch(run, epoch, progress))
        log.info("epoch %d: %s", epoch + 1, history[-1])
        loaded = LoadedModel(run.model, config.backbone, contract, "finetuned", asdict(config))
        save_checkpoint(last, loaded, {
            "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
            "losses": [loss.loss.state_dict() for loss in run.losses], "epoch": epoch,
            "step": run.step, "history": history,
        })
        plot_training(history, out_dir / "training-curves.png")
    run.model.cpu()
    loaded = LoadedModel(run.model.eval(), config.backbone, contract, "finetuned",
                         asdict(config))
    scale = fit_match_scale(loaded, run.data, progress)
    loaded.same_item = scale.to_json() if scale else ""
    if scale is not None:
        plot_match_scale(scale, colour.DEFAULT_WEIGHT, out_dir / "match-scale.png")
    save_checkpoint(out_dir / MODEL_FILE, loaded, {"history": history})
    save_resolved_config(out_dir / "history.json", history=history)
    seconds = time.monotonic() - started
    log.info("trained in %.0f s; model at %s", seconds, out_dir / MODEL_FILE)
    return TrainResult(out_dir / MODEL_FILE, history, seconds)
