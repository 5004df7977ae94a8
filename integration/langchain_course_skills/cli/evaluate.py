"""`course-skills evaluate`: score retrieval on a gold set, several configurations side by side."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_course_skills.cli._common import (
    DEFAULT_PRECISION,
    HelpFormatter,
    add_backend_option,
    add_reranker_option,
    add_store_options,
    positive_int,
    quiet_model_loading,
    require_collection,
    retriever_spec,
    store_location,
    store_name,
    stored_model,
    view_kinds,
)
from langchain_course_skills.errors import CourseSkillsError
from langchain_course_skills.fusion import (
    DEFAULT_FUSION,
    DEFAULT_VIEW_FUSION,
    FUSIONS,
    VIEW_FUSIONS,
    ViewFusion,
)
from langchain_course_skills.loaders import load_taxonomy
from langchain_course_skills.models.loading import locate_model
from langchain_course_skills.models.options import PRECISIONS
from langchain_course_skills.views import DEFAULT_VIEWS, SINGLE_VIEW
from langchain_course_skills.vocabulary import DEFAULT_EMBEDDING_MODEL, DEFAULT_K, TEMPLATE_KEY

if TYPE_CHECKING:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

    from langchain_course_skills.evaluation.gold import GoldQuery
    from langchain_course_skills.evaluation.runner import EvaluationResult
    from langchain_course_skills.retrievers import SkillRetriever
    from langchain_course_skills.spec import RetrieverSpec

# One configuration: its retriever's spec and the store it reads.
Configuration = tuple["RetrieverSpec", "Chroma"]

DEFAULT_OUT = "evaluation"  # folder for metrics.json, queries.jsonl and metrics.png
METRICS_FILE = "metrics.json"
QUERIES_FILE = "queries.jsonl"
CHART_FILE = "metrics.png"
RERANKED_SUFFIX = " + reranker"

EPILOG = """\
examples:
  # the collection that `course-skills index` built, with and without the reranker
  course-skills evaluate gold.jsonl --db skills-db --rerank

  # label-only vs. label+description passages, one per skill: a collection each, from the file
  course-skills evaluate gold.jsonl --db eval-db --taxonomy-file skills_en.csv \\
      --views label \\
      --passage-template "{preferredLabel}" --passage-template "{preferredLabel}: {description}"

  # label-only vs. every view of each skill (the default), fused per skill by max and by RRF
  course-skills evaluate gold.jsonl --db eval-db --taxonomy-file skills_en.csv \\
      --views label --views label,alt,description --view-fusion max --view-fusion rrf

  # base model vs. fine-tuned model vs. fine-tuned model with reranker (as in the model card)
  course-skills evaluate gold.jsonl --db eval-db --taxonomy-file skills_de.csv \\
      --model intfloat/multilingual-e5-base \\
      --model isy-thl/multilingual-e5-base-course-skill-tuned --rerank

gold files: JSONL, one query per line, any of
  {"query": "course text", "relevant": ["<skill URI or label>", ...]}
  {"query": "course text", "pos": [...], "neg": [...]}     (the fine-tuning format)
  {"sentence": "...", "uris": [...]}                       (the Decorte et al. files)
Labels are matched to the store's skill labels ignoring case.

With --taxonomy-file every model x template x view set gets its own collection in the store,
named eval-<hash of model, precision, template and views>; running again reuses it (nothing is
embedded again). --out receives metrics.json (all metrics per configuration), queries.jsonl
(per query: relevant ids, retrieved ids with scores, metrics) and metrics.png (a bar chart).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score retrieval on a gold set; compare models, passage templates and reranking",
        description=textwrap.fill(
            "Retrieve the top k skills for every query of a gold set, as the model card's "
            "evaluation does, optionally re-rank them, and report accuracy, precision, recall, "
            "NDCG, MRR, MAP and R-precision per configuration: a table here, metrics.json, "
            "per-query results and a bar chart in --out."
        ),
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("gold", metavar="GOLD", type=Path, help="JSONL gold file")
    group = parser.add_argument_group("configurations")
    group.add_argument(
        "--model",
        action="append",
        metavar="MODEL",
        help="embedding model, Hub id or local folder; repeat to compare models (default: the "
        f"collection's model, or {DEFAULT_EMBEDDING_MODEL} with --taxonomy-file)",
    )
    group.add_argument(
        "--passage-template",
        action="append",
        metavar="TEMPLATE",
        help="how each skill is written, with the taxonomy file's columns as fields; repeat to "
        'compare, e.g. "{preferredLabel}: {description}" (needs --taxonomy-file; default: '
        "{preferredLabel} for ESCO)",
    )
    group.add_argument(
        "--views",
        action="append",
        type=view_kinds,
        metavar="KINDS",
        help="views of each skill, e.g. label or label,alt,description (docs/views.md); repeat "
        f"to compare (needs --taxonomy-file; default: {','.join(DEFAULT_VIEWS)})",
    )
    group.add_argument(
        "--view-fusion",
        action="append",
        choices=VIEW_FUSIONS,
        help="how a skill's views combine; repeat to compare (default: "
        f"{DEFAULT_VIEW_FUSION}; only for stores with several views)",
    )
    group.add_argument(
        "--fusion",
        choices=FUSIONS,
        default=DEFAULT_FUSION,
        help="how the passages of a long gold query combine per skill",
    )
    group.add_argument(
        "--taxonomy-file",
        type=Path,
        metavar="FILE",
        help="build (or reuse) one collection per model and template from this taxonomy: an "
        "ESCO skills_<lang>.csv, the GRETA JSON or your own table; without it the "
        "--collection is evaluated as it is",
    )
    group.add_argument(
        "--label-column",
        metavar="COLUMN",
        help="the taxonomy file's label column, e.g. preferredLabel_de for a label-only ESCO file",
    )
    group.add_argument(
        "-k", type=positive_int, default=DEFAULT_K, help="candidates per query by cosine similarity"
    )
    group.add_argument(
        "--rerank",
        action="store_true",
        help="also evaluate every configuration with the cross-encoder re-ranking all k candidates",
    )
    add_reranker_option(parser)
    group.add_argument(
        "--skip-unresolved",
        action="store_true",
        help="skip gold skills that are not in the store instead of stopping",
    )
    group.add_argument("--out", default=DEFAULT_OUT, help="folder for the result files")
    add_store_options(
        parser, collection_help="collection to evaluate when no --taxonomy-file is given"
    )
    models = parser.add_argument_group("model")
    models.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    models.add_argument(
        "--precision", default=DEFAULT_PRECISION, choices=PRECISIONS, help="model precision"
    )
    add_backend_option(models)
    models.add_argument(
        "--batch-size",
        type=positive_int,
        help="texts per forward pass (default: 256 on a CUDA GPU, 32 elsewhere)",
    )
    parser.set_defaults(handler=run, parameter_options={"strict=False": "--skip-unresolved"})


def evaluation_spec(args: argparse.Namespace, model: str | None = None) -> RetrieverSpec:
    """The spec of one configuration: the options, with one `model`, every k candidate kept.

    The configurations vary the model, the collection and the view fusion (`model_copy`).
    """
    options = {
        **vars(args),
        "model": model or DEFAULT_EMBEDDING_MODEL,
        "view_fusion": DEFAULT_VIEW_FUSION,
        "top_n": args.k,  # the metrics read the whole ranking of the k candidates
    }
    return retriever_spec(argparse.Namespace(**options))


def _view_configurations(
    args: argparse.Namespace, views: tuple[str, ...], name: str
) -> list[tuple[str, ViewFusion]]:
    """(name, view fusion) of each configuration over one collection with `views`."""
    fusions = args.view_fusion or [DEFAULT_VIEW_FUSION]
    if views == SINGLE_VIEW:
        fusions = fusions[:1]  # one passage per skill: nothing to fuse
    several = len(args.views or []) > 1
    out = []
    for fusion in fusions:
        parts = [name] if name else []
        if several or views != SINGLE_VIEW:
            parts.append(",".join(views))
        if len(fusions) > 1:
            parts.append(fusion)
        out.append((" | ".join(parts), fusion))
    return out


def _short(model: str) -> str:
    return Path(model.rstrip("/\\")).name or model


def _names(models: list[str], templates: list[str]) -> dict[tuple[str, str], str]:
    """Name each (model, template): by what varies, made unique."""
    names: dict[tuple[str, str], str] = {}
    for model in models:
        for template in templates:
            parts = []
            if len(models) > 1 or len(templates) == 1:
                parts.append(_short(model))
            if len(templates) > 1:
                parts.append(template)
            name = " | ".join(parts)
            while name in names.values():  # two local folders with the same name
                name += "'"
            names[(model, template)] = name
    return names


def _load_taxonomy(args: argparse.Namespace, template: str | None) -> list[Document]:
    return load_taxonomy(
        args.taxonomy_file, label_column=args.label_column, passage_template=template
    )


def _built_configurations(
    args: argparse.Namespace, gold: list[GoldQuery]
) -> dict[str, Configuration]:
    """Build or reuse one collection per model and template, from --taxonomy-file."""
    from langchain_course_skills.evaluation.gold import document_labels, resolve_relevant
    from langchain_course_skills.evaluation.runner import sync_evaluation_store

    models = args.model or [DEFAULT_EMBEDDING_MODEL]
    # Load every template's documents first, so that a bad template fails before any model,
    # and a gold skill that is not in the taxonomy before anything is embedded.
    documents = {t: _load_taxonomy(args, t) for t in args.passage_template or [None]}
    labels = document_labels(next(iter(documents.values())))
    resolve_relevant(gold, labels, strict=not args.skip_unresolved)
    templates = {t: str(docs[0].metadata.get(TEMPLATE_KEY, t)) for t, docs in documents.items()}
    names = _names(models, list(templates.values()))
    for model in models:  # every model found before any is loaded
        locate_model(model, "embedding")
    location = store_location(args)
    configurations: dict[str, Configuration] = {}
    quiet_model_loading(args)
    for model in models:
        spec = evaluation_spec(args, model)
        embeddings = spec.embeddings()
        for template, docs in documents.items():
            for views in args.views or [DEFAULT_VIEWS]:
                report = sync_evaluation_store(docs, embeddings, **location, views=views)
                unit, shown = "skills", ""
                if views != SINGLE_VIEW:  # several passages per skill
                    unit, shown = "passages", f", views {','.join(views)}"
                print(
                    f"{report.collection} ({_short(model)}, {templates[template]}{shown}): "
                    f"{report.added + report.updated} {unit} embedded, "
                    f"{report.unchanged} reused, {report.removed} removed in "
                    f"{report.seconds:.1f} s",
                    file=sys.stderr,
                )
                name = names[(model, templates[template])]
                for full, fusion in _view_configurations(args, views, name):
                    configured = spec.model_copy(update={"view_fusion": fusion})
                    configurations[full] = (configured, report.store)
    return configurations


def _existing_configuration(
    args: argparse.Namespace, gold: list[GoldQuery]
) -> dict[str, Configuration]:
    """Open --collection as it is, with its own model unless --model names it."""
    from langchain_course_skills.evaluation.gold import collection_labels, resolve_relevant
    from langchain_course_skills.store import open_skill_store, read_fingerprint, stored_views

    if args.views:
        msg = (
            "--views needs --taxonomy-file: a collection's views are fixed when it is built; "
            "pass the taxonomy file to build one collection per view set"
        )
        raise CourseSkillsError(msg)
    if args.passage_template:
        msg = (
            "--passage-template needs --taxonomy-file: a collection's passages are fixed when "
            "it is built; pass the taxonomy file to build one collection per template"
        )
        raise CourseSkillsError(msg)
    if args.model and len(args.model) > 1:
        msg = (
            "several --model need --taxonomy-file: a collection holds one model's vectors; "
            "pass the taxonomy file to build one collection per model"
        )
        raise CourseSkillsError(msg)
    collection = require_collection(args)  # fails before any model is loaded
    resolve_relevant(gold, collection_labels(collection), strict=not args.skip_unresolved)
    model = args.model[0] if args.model else stored_model(collection) or DEFAULT_EMBEDDING_MODEL
    spec = evaluation_spec(args, model)
    quiet_model_loading(args)
    store = open_skill_store(
        spec.embeddings(), **store_location(args), collection_name=args.collection
    )
    template = read_fingerprint(collection).get("passage_template")
    name = _short(model) + (f" | {template}" if template else "")
    views = stored_views(read_fingerprint(collection))
    return {
        full: (spec.model_copy(update={"view_fusion": fusion}), store)
        for full, fusion in _view_configurations(args, views, name)
    }


def write_results(result: EvaluationResult, args: argparse.Namespace, queries: int) -> list[Path]:
    """Write metrics.json, queries.jsonl and the chart to --out; return their paths."""
    from langchain_course_skills.evaluation.chart import plot_metrics
    from langchain_course_skills.evaluation.runner import query_record

    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "gold": str(args.gold),
        "queries": queries,
        "k": args.k,
        "store": store_name(args),
        "configurations": result.to_dict(),
    }
    metrics_path = out / METRICS_FILE
    metrics_path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    queries_path = out / QUERIES_FILE
    with queries_path.open("w", encoding="utf-8") as handle:
        for name, configuration in result.configurations.items():
            for query in configuration.queries:
                record = {"configuration": name, **query_record(query)}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    title = f"{args.gold.name}: {queries} queries, top {args.k} candidates"
    chart_path = plot_metrics(result.metrics, out / CHART_FILE, title=title)
    return [metrics_path, queries_path, chart_path]


def run(args: argparse.Namespace) -> int:
    """Evaluate every configuration and write the results."""
    from langchain_course_skills.evaluation.gold import load_gold
    from langchain_course_skills.evaluation.runner import evaluate

    gold = load_gold(args.gold)  # a bad gold file fails before any model is loaded
    if args.rerank:
        locate_model(args.reranker, "cross-encoder")
    if args.taxonomy_file is None:
        configurations = _existing_configuration(args, gold)
    else:
        configurations = _built_configurations(args, gold)
    retrievers: dict[str, SkillRetriever] = {}
    for name, (spec, store) in configurations.items():
        retrievers[name] = spec.over(store)
    if args.rerank:
        cross_encoder = next(iter(configurations.values()))[0].cross_encoder()
        for name, (spec, store) in configurations.items():
            retrievers[name + RERANKED_SUFFIX] = spec.over(store, cross_encoder)
    result = evaluate(gold, retrievers, strict=not args.skip_unresolved)
    judged = {len(c.queries) for c in result.configurations.values()}
    print(f"{args.gold.name}: {max(judged)} of {len(gold)} queries, top {args.k} candidates")
    print(result.table())
    paths = write_results(result, args, max(judged))
    print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0
