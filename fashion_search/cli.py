"""``fashion-search``: one console command, one sub-command per step.

Each sub-command parses flags and calls the step function with keyword
arguments; errors people can fix are printed as one clear message. Steps are
imported when their sub-command runs, so ``--help`` does not load PyTorch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shlex
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path

from fashion_search import colour
from fashion_search.bench.suites import NO_TABLE, add_bench_flags, run_suite, write_result
from fashion_search.config import (
    BATCH_SIZE,
    CPU_LAYOUTS,
    DEFAULT_BACKBONE,
    KEEP_COLLECTIONS,
    add_config_flags,
    load_settings,
)
from fashion_search.errors import FashionSearchError, MissingInput
from fashion_search.training.config import GarmentTrainConfig, TrainConfig

log = logging.getLogger("fashion_search")


def _cmd_train(args: argparse.Namespace) -> int:
    from fashion_search.training.train import train

    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                 if getattr(args, f.name) is not None}
    result = train(TrainConfig(**overrides), out_dir=args.out, resume=args.resume)
    last = result.history[-1] if result.history else {}
    print(f"trained in {result.seconds / 60:.1f} min; model: {result.model_path}")
    for key, value in last.get("validation", {}).items():
        print(f"  {key}: {value:.3f}")
    print(f"next: fashion-search export --checkpoint {result.model_path}")
    return 0


def _cmd_train_garments(args: argparse.Namespace) -> int:
    from fashion_search.training.train_garments import train_garments

    overrides = {f.name: getattr(args, f.name) for f in fields(GarmentTrainConfig)
                 if getattr(args, f.name) is not None}
    result = train_garments(GarmentTrainConfig(**overrides), out_dir=args.out)
    total = result.report[-1]
    print(f"garment finder: {result.checkpoint} (threshold {result.threshold:.2f}); reporting "
          f"tenth: box recall {total['recall']}, precision {total['precision']} (IoU 0.5, "
          f"garments of 2%+ of the photo); by kind in {result.out_dir / 'report_boxes.csv'}")
    print("next: fashion-search serve (exports it), then fashion-search garments PHOTO")
    return 0


def _cmd_garments(args: argparse.Namespace) -> int:
    from fashion_search.catalog import read_photo
    from fashion_search.garment_client import GarmentClient

    settings = load_settings()
    data = read_photo(Path(args.photo))
    found = GarmentClient(settings.triton_url, settings.triton_timeout_s).find(data, args.photo)
    if args.json:
        print(json.dumps([g.to_json() for g in found], indent=2))
        return 0
    print(f"{'kind':<10}  {'score':>5}  {'share':>5}  box (left, top, right, bottom)")
    for garment in found:
        print(f"{garment.kind:<10}  {garment.score:5.2f}  {garment.share:5.1%}  {garment.box}")
    if not found:
        print("no garment found; search the whole photo")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    if args.suite == "catalogue":
        from fashion_search.evaluation.catalogue import evaluate_catalogue

        found = evaluate_catalogue(checkpoint=args.checkpoint, out_dir=args.out)
        print(found.table())
        return 0
    if args.suite == "garments":
        from fashion_search.evaluation.garments import evaluate_garments

        print(evaluate_garments(checkpoint=args.checkpoint, limit=args.limit, out_dir=args.out)
              .table())
        return 0
    from fashion_search.evaluation.evaluate import evaluate

    report = evaluate(checkpoint=args.checkpoint, backbone=args.backbone, weights=args.weights,
                      pairs=args.pairs, categories=args.categories,
                      unseen_pairs=args.unseen_pairs, seed=args.seed, limit=args.limit,
                      served=args.served, out_dir=args.out)
    print(report.table())
    return 0 if report.served_matches in (None, True) else 1


def _cmd_export(args: argparse.Namespace) -> int:
    from fashion_search.catalog import photo_paths
    from fashion_search.export.run import export

    photos: list[Path] = []
    for entry in args.parity_photos or []:
        path = Path(entry)
        if not path.exists():  # before any work: the ONNX export takes a while
            raise MissingInput(f"{path}: no such photo or folder for --parity-photos")
        photos.extend(photo_paths(path, 8) if path.is_dir() else [path])
    if args.garments:
        from fashion_search.export.garment_export import export_finder

        found = export_finder(checkpoint=args.checkpoint, parity_photos=photos)
        print(f"exported the garment finder {found.version} to {found.onnx_path}; parity on "
              f"{found.photos} photos: scores within {found.max_score_diff:.1g}")
        return 0
    result = export(checkpoint=args.checkpoint, untuned=args.untuned, backbone=args.backbone,
                    weights=args.weights, parity_photos=photos)
    print(f"exported {result.model_version} ({result.model}) to {result.onnx_path}")
    print(f"parity PyTorch vs onnxruntime on {result.parity.photos} photos: "
          f"min cosine {result.parity.min_cosine:.6f}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from fashion_search.export.garment_export import ensure_finder
    from fashion_search.export.run import ensure_model
    from fashion_search.serving.serve import ServerOptions, TritonServer

    settings = load_settings()
    served = ensure_model(checkpoint=args.checkpoint, untuned=args.untuned, settings=settings)
    print(f"model: {served}", flush=True)
    finder = ensure_finder(settings)
    print(f"garment finder: {finder or 'none trained (fashion-search train-garments)'}", flush=True)
    options = ServerOptions.at(settings, grpc_port=args.grpc_port, http_port=args.http_port,
                               metrics_port=args.metrics_port, cpu_layout=args.cpu_layout)
    with TritonServer(settings, options) as server:
        print(f"Triton serving on gRPC {server.grpc_url}, HTTP {options.host}:{options.http_port}, "
              f"metrics {options.host}:{options.metrics_port} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(1.0)
                server.check()  # its backend processes are gone by then too
        except KeyboardInterrupt:
            pass
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from fashion_search.export.run import ensure_model
    from fashion_search.serving.serve import ensure_server
    from fashion_search.vectordb.indexing import index, switch_back_catalog

    settings = load_settings()
    if args.switch_back:
        live, was = switch_back_catalog(settings=settings)
        print(f"{live} is live again; {was} stays until the next index prunes it")
        return 0
    with contextlib.ExitStack() as stack:
        if not args.no_serve:
            served = ensure_model(checkpoint=args.checkpoint, untuned=args.untuned, settings=settings)
            print(f"model: {served}", flush=True)
            # the running server (if it serves this model), else one for this run
            ensure_server(settings, stack, expected_version=served.version)
        report = index(catalog=args.catalog, category_column=args.category_column,
                       incremental=args.incremental, keep=args.keep,
                       batch_size=args.batch_size, limit=args.limit, settings=settings)
    print(f"{report.mode} index: {report.indexed} items live in {report.collection}")
    print(f"  added {report.added}, changed {report.changed}, removed {report.removed}, "
          f"moved {report.moved}, unchanged {report.unchanged}, skipped {len(report.skipped)}")
    print("  took " + ", ".join(f"{step} {s:.1f}s" for step, s in report.timings.items())
          + (f" ({report.rate:.1f} photos/s embedded)" if report.rate else ""))
    if report.dropped:
        print(f"  dropped older collections: {', '.join(report.dropped)}")
    if report.skipped:
        print(f"skipped {len(report.skipped)} photos:")
        for _, reason in report.skipped:
            print(f"  {reason}")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from fashion_search.catalog import read_photo
    from fashion_search.client import EmbeddingClient
    from fashion_search.garment_client import GarmentClient
    from fashion_search.serving.search import VisualSearch
    from fashion_search.vectordb.filters import parse_where
    from fashion_search.vectordb.schema import MATCH_MEANING
    from fashion_search.vectordb.store import CatalogStore

    settings = load_settings()
    photo = Path(args.photo)
    data = read_photo(photo)  # before any server is asked
    finder = GarmentClient(settings.triton_url, settings.triton_timeout_s) if args.garment else None
    search = VisualSearch(EmbeddingClient(settings.triton_url, timeout_s=settings.triton_timeout_s),
                          CatalogStore(settings.resolved_milvus_uri, settings.milvus_token), finder)
    results = search.find(data, k=args.k, category=args.category, name=str(photo),
                          where=parse_where(args.where), colour_weight=args.colour_weight,
                          garment=args.garment)
    hits, garment = results.hits, results.garment
    if args.json:
        print(json.dumps({"category": results.category, "suggestions": results.suggestions,
                          "colour_weight": results.colour_weight,
                          "garment": garment.to_json() if garment else None,
                          "hits": [h.__dict__ for h in hits]}, indent=2))
        return 0
    if garment:
        print(f"searching the {garment.kind} at {garment.box} (score {garment.score:.2f})")
    if results.suggestions:
        print("looks like: " + ", ".join(f"{c} {p:.0%}" for c, p in results.suggestions))
    if results.category and results.category != args.category:
        print(f"within category: {results.category}")
    for reading in sorted({h.reading for h in hits if h.reading}):
        print(f"match: {MATCH_MEANING[reading]}")
    print(f"{'rank':>4}  {'match':>5}  {'score':>6}  {'category':<20}  {'id':<24}  image")
    for rank, hit in enumerate(hits, 1):
        match = f"{hit.match:.0%}" if hit.match is not None else "-"
        print(f"{rank:>4}  {match:>5}  {hit.score:6.3f}  {hit.category[:20]:<20}  "
              f"{hit.id[:24]:<24}  {hit.image_path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from fashion_search.demo.run import demo

    running = demo(catalog=args.catalog, host=args.host, port=args.port,
                   checkpoint=args.checkpoint, untuned=args.untuned, reindex=args.reindex)
    print(f"model: {running.model}", flush=True)
    print(f"Demo running at {running.url} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        running.wait()
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    table = run_suite(args.suite, photos=args.photos, count=args.count,
                      collection_size=args.collection_size, rows=args.rows, clicks=args.clicks,
                      minutes=args.minutes, milvus_server=args.milvus_server, lite=not args.no_lite,
                      indexes=tuple(args.index or ()), device=args.device, out=args.out)
    print(table)
    if args.suite not in NO_TABLE:
        results = args.results or load_settings().home / "bench"
        print(f"written to {write_result(args.suite, table, args.command_line, results)}")
    return 0


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path,
                        help="trained model (default: $FASHION_SEARCH_HOME/training/model.pt "
                             "when it exists, else the untuned ImageNet backbone)")
    parser.add_argument("--untuned", action="store_true",
                        help="the untuned ImageNet backbone even when a trained model exists")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fashion-search", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune the backbone (classifier + metric loss)")
    add_config_flags(p, TrainConfig)
    p.add_argument("--out", type=Path, help="run folder (default: $FASHION_SEARCH_HOME/training)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last epoch")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("train-garments", help="train the garment finder on the street photos")
    add_config_flags(p, GarmentTrainConfig)
    p.add_argument("--out", type=Path, help="run folder (default: $FASHION_SEARCH_HOME/garments)")
    p.set_defaults(func=_cmd_train_garments)

    p = sub.add_parser("evaluate", help="retrieval quality: untuned vs trained, in-process and "
                                        "served")
    p.add_argument("--checkpoint", type=Path,
                   help="trained model (default: $FASHION_SEARCH_HOME/training/model.pt if any)")
    p.add_argument("--backbone", help="the untuned baseline (default: the one the checkpoint "
                                      "started from)")
    p.add_argument("--weights", type=Path, help="weights file for the untuned baseline")
    recipe = TrainConfig()
    p.add_argument("--pairs", help=f"pairs folder, '' to skip (default: {recipe.pairs[0]})")
    p.add_argument("--categories", help="folder with train/validation/test, '' to skip "
                                        f"(default: {recipe.categories[0]})")
    p.add_argument("--unseen-pairs", type=int, help="pairs kept out of training (default: the "
                                                     f"checkpoint's, else {recipe.unseen_pairs})")
    p.add_argument("--seed", type=int, help="seed of the pair split (default: the checkpoint's, "
                                            f"else {recipe.seed})")
    p.add_argument("--limit", type=int, help="at most N unseen pairs and N test photos")
    p.add_argument("--served", action="store_true",
                   help="also score through Triton and Milvus (starts Triton if none runs)")
    p.add_argument("--out", type=Path, help="output folder (default: $FASHION_SEARCH_HOME/"
                                            "evaluation)")
    p.add_argument("--suite", choices=["retrieval", "catalogue", "garments"],
                   default="retrieval",
                   help="retrieval: street-to-shop and category figures, untuned vs trained; "
                        "catalogue: colour agreement and recall by colour weight, auto-category "
                        "accuracy, on held-out catalogue photos; garments: street-to-shop whole "
                        "vs --garment auto, category precision of the garments found")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("export", help="export a model to ONNX and build the Triton repository")
    _add_model_flags(p)
    p.add_argument("--backbone", help=f"untuned backbone to export (default: {DEFAULT_BACKBONE})")
    p.add_argument("--weights", type=Path, help="untuned backbone weights file (no checkpoint)")
    p.add_argument("--parity-photos", nargs="*", help="photos or folders to check parity on")
    p.add_argument("--garments", action="store_true", help="export the garment finder instead "
                   "(--checkpoint: default $FASHION_SEARCH_HOME/garments/finder.pt)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("serve", help="run Triton on the model repository")
    _add_model_flags(p)
    p.add_argument("--grpc-port", type=int,
                   help="default: the port of $FASHION_SEARCH_TRITON_URL")
    p.add_argument("--http-port", type=int, help="default: the gRPC port - 1")
    p.add_argument("--metrics-port", type=int, help="default: the gRPC port + 1")
    p.add_argument("--cpu-layout", choices=CPU_LAYOUTS, default=CPU_LAYOUTS[0],
                   help="without a GPU: one model that decodes and embeds (fused), or the GPU "
                        "deployment's two models (stages)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("index", help="embed a catalogue through Triton into Milvus")
    p.add_argument("--catalog", help="folder or CSV (default: $FASHION_SEARCH_CATALOG or the "
                                     "downloaded default catalogue)")
    p.add_argument("--category-column", help="CSV column holding the category")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="photos per Triton request")
    p.add_argument("--limit", type=int, help="index only the first N photos")
    p.add_argument("--incremental", action="store_true",
                   help="update the live collection in place: embed new and changed photos, "
                        "delete removed ones (default: fill a new collection, then switch)")
    p.add_argument("--keep", type=int, default=KEEP_COLLECTIONS,
                   help="collections of this catalogue to keep, the live one included")
    p.add_argument("--no-serve", action="store_true",
                   help="fail instead of starting Triton when none is running")
    p.add_argument("--switch-back", action="store_true", help="the collection live before, live again")
    _add_model_flags(p)
    p.set_defaults(func=_cmd_index)

    p = sub.add_parser("search", help="find catalogue items that look like a photo")
    p.add_argument("photo")
    p.add_argument("--category", help="only this category; 'auto': the one the photo's nearest "
                                      "catalogue items vote for")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                   help="only items with this label value (repeat: the same column means "
                        "either value, different columns must all match)")
    p.add_argument("-k", type=int, default=10, help="number of results")
    p.add_argument("--colour-weight", type=float, default=colour.DEFAULT_WEIGHT,
                   help="weight of colour similarity beside the shape's, 0..1 "
                        f"(default {colour.DEFAULT_WEIGHT:g}; 0 ignores colour)")
    p.add_argument("--garment", help="one garment of the photo: auto (the category's kind, "
                                     "else the largest, in context) or a kind (tops, ...) alone")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("garments", help="the garments a photo shows: kind, box, score")
    p.add_argument("photo")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_garments)

    p = sub.add_parser("demo", help="model, server, catalogue and the Gradio page, all in one")
    p.add_argument("--catalog", help="folder or CSV (default: the downloaded default catalogue)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    _add_model_flags(p)
    p.add_argument("--reindex", action="store_true", help="index the catalogue again")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("bench", help="throughput and latency table")
    add_bench_flags(p)
    p.set_defaults(func=_cmd_bench)
    return parser


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["fashion-search", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("onnx_ir", "onnxscript", "httpx", "torch", "pymilvus"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # SIGTERM unwinds like Ctrl-C, so servers started by this process are stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except FashionSearchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
